"""The Hi-ToM data row (docs/tasks.md#hitom)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from judges.extraction import LETTERS, gold_letter, parse_options
from osim_env.data import decode_structured

DATA_SOURCE = "hitom"


class HiToMRow(BaseModel):
    """A story, a nested-belief question and lettered options; the gold is an option text."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    story: str = Field(min_length=1)
    question: str = Field(min_length=1)
    choices: list[str]
    correct_answer: str = Field(min_length=1)
    deception: bool | None = None
    story_length: int | None = None
    question_order: int | None = None
    set_id: int | None = None
    gold: str = Field(default="", description="the gold letter, derived at load")

    @field_validator("choices", mode="before")
    @classmethod
    def _options(cls, value: Any) -> list[str]:
        value = decode_structured(value)
        if isinstance(value, str):
            return parse_options(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [v.strip() for v in value]
        raise ValueError("choices must be 'A. x, B. y, ...' or a list of strings")

    @field_validator("deception", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            raise ValueError(f"deception must be true/false, got {value!r}")
        return value

    @model_validator(mode="after")
    def _gold(self) -> HiToMRow:
        if not 2 <= len(self.choices) <= len(LETTERS):
            raise ValueError(f"need 2..{len(LETTERS)} options, got {len(self.choices)}")
        letter = gold_letter(self.choices, self.correct_answer)
        if self.gold and self.gold != letter:
            raise ValueError(f"gold letter {self.gold!r} does not match correct_answer (option {letter})")
        object.__setattr__(self, "gold", letter)
        return self
