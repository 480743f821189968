"""The ToMi (ParaToMi) data row (docs/tasks.md#tomi)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from judges.matching import normalize_location
from osim_env.data import decode_structured

DATA_SOURCE = "paratomi"


class ToMiRow(BaseModel):
    """A short story of people moving an object, a question about where it is (or is believed to be),
    the gold location and, optionally, the candidate locations shown as possible answers."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    story: str = Field(min_length=1)
    question: str = Field(min_length=1)
    correct_answer: str = Field(min_length=1, validation_alias=AliasChoices("correct_answer", "answer"))
    cands: list[str] | None = Field(default=None, validation_alias=AliasChoices("cands", "candidates"))
    qType: str | None = None
    qTypeRaw: str | None = None

    @field_validator("story", mode="before")
    @classmethod
    def _story(cls, value: Any) -> Any:
        """A list of sentences (or a string holding one) is joined with spaces."""
        value = decode_structured(value)
        if isinstance(value, list):
            if not all(isinstance(s, str) for s in value):
                raise ValueError("story must be a string or a list of strings")
            value = " ".join(s.strip() for s in value if s.strip())
        if isinstance(value, str) and not value.strip():
            raise ValueError("story is empty")
        return value.strip() if isinstance(value, str) else value

    @field_validator("question", "correct_answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("cands", mode="before")
    @classmethod
    def _candidates(cls, value: Any) -> Any:
        """A list, a string holding a list, or a comma-separated string; empty means no candidates."""
        value = decode_structured(value)
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            if not all(isinstance(c, str) for c in value):
                raise ValueError("cands must be a list of strings")
            value = [c.strip() for c in value if c.strip()]
            return value or None
        return value

    @field_validator("cands")
    @classmethod
    def _gold_is_a_candidate(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        gold = info.data.get("correct_answer")
        if value is None or gold is None:
            return value
        if normalize_location(gold) not in {normalize_location(c) for c in value}:
            raise ValueError(f"correct_answer {gold!r} is not one of the candidates {value!r}")
        return value
