"""The Mistakes data row (docs/tasks.md#mistakes).

A row is a K-12 maths question with up to four options, one misconception and the option a student
holding that misconception picks. Empty options are left out of the question but the others keep
their letters (A, B and D when C is empty), so the target letter always means the same option.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

DATA_SOURCE = "mistakes"
OPTION_LETTERS = ("A", "B", "C", "D")


class MistakesRow(BaseModel):
    """A question, options A-D (empty ones omitted), a misconception and the target option."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    QuestionText: str = Field(min_length=1, validation_alias=AliasChoices("QuestionText", "question"))
    AnswerAText: str = ""
    AnswerBText: str = ""
    AnswerCText: str = ""
    AnswerDText: str = ""
    MisconceptionName: str = Field(
        min_length=1, validation_alias=AliasChoices("MisconceptionName", "misconception_text")
    )
    TargetOption: str = Field(validation_alias=AliasChoices("TargetOption", "target_option"))
    TargetAnswer: str | None = Field(
        default=None, validation_alias=AliasChoices("TargetAnswer", "target_text")
    )
    MisconceptionId: int | str | None = None
    QuestionId: int | str | None = None

    @field_validator("QuestionText", "MisconceptionName")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("AnswerAText", "AnswerBText", "AnswerCText", "AnswerDText", mode="before")
    @classmethod
    def _option_text(cls, value: Any) -> Any:
        """A missing option (None, or NaN from a Parquet float column) is empty; numbers become text."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("AnswerAText", "AnswerBText", "AnswerCText", "AnswerDText")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("TargetOption")
    @classmethod
    def _target(cls, value: str, info: ValidationInfo) -> str:
        letter = value.strip().upper()
        if letter not in OPTION_LETTERS:
            raise ValueError(f"must be one of A, B, C, D, got {value!r}")
        present = [x for x in OPTION_LETTERS if info.data.get(f"Answer{x}Text")]
        if len(present) < 2:
            raise ValueError(f"the row needs at least two non-empty options, it has {present}")
        if letter not in present:
            raise ValueError(f"names option {letter}, which is empty (non-empty options: {present})")
        return letter

    @property
    def options(self) -> dict[str, str]:
        """The non-empty options by letter, in order (letters keep their labels)."""
        texts = (self.AnswerAText, self.AnswerBText, self.AnswerCText, self.AnswerDText)
        return {letter: text for letter, text in zip(OPTION_LETTERS, texts) if text}

    @property
    def target_text(self) -> str:
        """The text of the target option."""
        return self.options[self.TargetOption]
