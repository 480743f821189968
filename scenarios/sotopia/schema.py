"""The Sotopia data row (soul-tasks.md §4.1)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DATA_SOURCE = "sotopia"


class SotopiaRow(BaseModel):
    """Two characters with private backgrounds and goals in one scenario."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    scenario: str = Field(min_length=1)
    agent1_name: str = Field(min_length=1)
    agent2_name: str = Field(min_length=1)
    agent1_background: str = ""
    agent2_background: str = ""
    agent1_goal: str = Field(min_length=1)
    agent2_goal: str = Field(min_length=1)
    relationship: str = Field(min_length=1)
    eval_position: Literal["agent1", "agent2"] = "agent1"
    agent1_public: str = ""
    agent2_public: str = ""

    @field_validator("agent1_name", "agent2_name", "scenario", "agent1_goal", "agent2_goal")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    def name(self, role: str) -> str:
        return self.agent1_name if role == "agent1" else self.agent2_name

    def scenario_text(self) -> str:
        """The scenario with ``Agent1``/``Agent2`` placeholders (any case) replaced by names."""
        text = re.sub(r"\bagent1\b", self.agent1_name, self.scenario, flags=re.IGNORECASE)
        return re.sub(r"\bagent2\b", self.agent2_name, text, flags=re.IGNORECASE)
