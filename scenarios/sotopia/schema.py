"""The Sotopia data row (docs/tasks.md#sotopia)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

DATA_SOURCE = "sotopia"
# Sotopia's goals mark parts with tags ("<extra_info>...</extra_info>", "<strategy_hint>...") that its
# own renderer unwraps for the goal's owner; the tags themselves are markup, never shown.
_GOAL_MARKUP = re.compile(r"<(extra_info|strategy_hint|clarification_hint)>(.*?)</\1>", re.DOTALL)


class SotopiaRow(BaseModel):
    """Two characters with private backgrounds and goals in one scenario."""

    model_config = ConfigDict(extra="ignore", frozen=True, serialize_by_alias=True)

    # The situation both characters are in. In osim "scenario" means a whole row, so the field is
    # called "setting" in code; in data it keeps the published name "scenario" (read and written),
    # so stored rows and the ids derived from them do not change.
    setting: str = Field(
        min_length=1,
        validation_alias=AliasChoices("setting", "scenario"),
        serialization_alias="scenario",
    )
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

    @field_validator("agent1_name", "agent2_name", "setting", "agent1_goal", "agent2_goal")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    def name(self, role: str) -> str:
        return self.agent1_name if role == "agent1" else self.agent2_name

    def setting_text(self) -> str:
        """The setting with ``Agent1``/``Agent2`` placeholders (any case) replaced by names."""
        text = re.sub(r"\bagent1\b", self.agent1_name, self.setting, flags=re.IGNORECASE)
        return re.sub(r"\bagent2\b", self.agent2_name, text, flags=re.IGNORECASE)

    def goal(self, role: str) -> str:
        """The role's goal as its owner (and the judge) reads it: markup tags unwrapped to their text."""
        goal = self.agent1_goal if role == "agent1" else self.agent2_goal
        return _GOAL_MARKUP.sub(lambda m: m.group(2).strip(), goal)
