"""The LifeChoices data row (docs/tasks.md#lifechoices).

The published rows nest the question under ``Multiple Choice Question`` (``Scenario``, ``Question``,
``Options``, ``Correct Answer``), either as an object or flattened into dotted keys such as
``Multiple Choice Question.Scenario``. Both are read; in code the fields are flat and the question's
"scenario" is called ``setting`` (in osim a scenario is a whole row).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from judges.extraction import LETTERS, parse_options
from osim_env.data import decode_structured

DATA_SOURCE = "lifechoices"
N_OPTIONS = 4
MCQ = "Multiple Choice Question"
# The keys of the published question object (the fields setting, question, options, correct_answer).
MCQ_KEYS = ("Scenario", "Question", "Options", "Correct Answer")


def published(key: str) -> str:
    """The flattened published name of a question key: ``Multiple Choice Question.Scenario``."""
    return f"{MCQ}.{key}"


class LifeChoicesRow(BaseModel):
    """A literary character's biography and one decision they faced, as a 4-option question."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    character_name: str = Field(min_length=1)
    input_text: str = Field(min_length=1, description="the biography, read as the character's memory")
    book: str | None = None
    setting: str = Field(
        min_length=1, validation_alias=AliasChoices(published("Scenario"), "setting", "scenario")
    )
    question: str = Field(min_length=1, validation_alias=AliasChoices(published("Question"), "question"))
    options: list[str] = Field(validation_alias=AliasChoices(published("Options"), "options"))
    correct_answer: str = Field(
        min_length=1, validation_alias=AliasChoices(published("Correct Answer"), "correct_answer")
    )
    gold: str = Field(default="", description="the gold letter, derived at load")

    @model_validator(mode="before")
    @classmethod
    def _flatten_question(cls, data: Any) -> Any:
        """A nested ``Multiple Choice Question`` object (or a string holding one) becomes dotted keys.

        Null values count as absent: a Parquet file whose rows mix the nested and the dotted shape
        has both columns, each null where the other shape is used."""
        if not isinstance(data, Mapping):
            return data
        flat = {k: v for k, v in data.items() if v is not None and k != MCQ}
        if data.get(MCQ) is None:
            return flat
        nested = decode_structured(data[MCQ])
        if not isinstance(nested, Mapping):
            raise ValueError(f"{MCQ!r} must be an object with {list(MCQ_KEYS)}")
        for key in MCQ_KEYS:
            if nested.get(key) is not None:
                flat.setdefault(published(key), nested[key])
        return flat

    @field_validator("character_name", "input_text", "setting", "question", "correct_answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> list[str]:
        value = decode_structured(value)
        if isinstance(value, str):
            value = parse_options(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("options must be a list of strings or 'A. x, B. y, ...'")
        if len(value) != N_OPTIONS:
            raise ValueError(f"need {N_OPTIONS} options, got {len(value)}")
        options = strip_letter_prefixes([v.strip() for v in value])
        if not all(options):
            raise ValueError("an option is empty")
        return options

    @field_validator("correct_answer")
    @classmethod
    def _starts_with_a_letter(cls, value: str) -> str:
        if value[:1].upper() not in LETTERS[:N_OPTIONS]:
            raise ValueError(f"must start with the gold letter A-{LETTERS[N_OPTIONS - 1]}, got {value!r}")
        return value

    @field_validator("gold")
    @classmethod
    def _supplied_gold_agrees(cls, value: str, info: ValidationInfo) -> str:
        answer = info.data.get("correct_answer")
        if value and answer and value != answer[0].upper():
            raise ValueError(f"gold letter {value!r} does not match correct answer {answer!r}")
        return value

    @model_validator(mode="after")
    def _gold(self) -> LifeChoicesRow:
        object.__setattr__(self, "gold", self.correct_answer[0].upper())
        return self

    def gold_text(self) -> str:
        return self.options[LETTERS.index(self.gold)]


def strip_letter_prefixes(options: list[str]) -> list[str]:
    """Drop ``A. `` / ``A) `` / ``(A) `` prefixes when every option carries its own letter in order,
    so that options written with their letters are not shown as ``A. A. ...``."""
    patterns = [re.compile(rf"^\(?{LETTERS[i]}[.):]\s*") for i in range(len(options))]
    if all(p.match(o) for p, o in zip(patterns, options)):
        return [p.sub("", o, count=1).strip() for p, o in zip(patterns, options)]
    return options
