"""The FanToM data row (docs/tasks.md#fantom).

One question about a multi-party conversation. ``question_type`` decides how the answer is read and
scored, so the loader checks that the gold fits the type: an option index for multiple choice, a
non-empty list of names for list questions, yes/no for binary questions and a text for fact questions.
A row of any other type is rejected rather than scored by a guess.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from judges.extraction import LETTERS
from osim_env.data import decode_structured

DATA_SOURCE = "fantom"

Family = Literal["multiple_choice", "list", "binary", "fact"]

# Every theory-of-mind question type and the family that scores it; fact types start with "fact".
TOM_TYPES: dict[str, Family] = {
    "tom:belief:accessible:multiple-choice": "multiple_choice",
    "tom:belief:inaccessible:multiple-choice": "multiple_choice",
    "tom:answerability:list": "list",
    "tom:answerability:binary": "binary",
    "tom:info_accessibility:list": "list",
    "tom:info_accessibility:binary": "binary",
}
MAX_OPTIONS = 4  # multiple-choice options are (a) to (d)
BINARY_GOLD = {"yes": "yes", "no": "no", "no:long": "no"}

# An option line of a multiple-choice question: "(a) Mara believes ..." at the start of a line.
_OPTION_LINE = re.compile(r"^[ \t]*\(([a-zA-Z])\)[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def question_family(question_type: str) -> Family:
    """The scoring family of a question type; any type not listed in docs/tasks.md#fantom raises."""
    if question_type.startswith("fact"):
        return "fact"
    if question_type in TOM_TYPES:
        return TOM_TYPES[question_type]
    raise ValueError(f"unknown question_type {question_type!r}")


def type_key(question_type: str) -> str:
    """The question type as reported in breakdowns (every fact type is reported as ``fact``)."""
    return "fact" if question_type.startswith("fact") else question_type


def mc_options(question: str) -> list[str]:
    """The option texts of a multiple-choice question: lines starting ``(a)``, ``(b)``, ... in sequence
    (a line with a letter out of sequence ends the options)."""
    options: list[str] = []
    for match in _OPTION_LINE.finditer(question):
        if match.group(1).upper() != LETTERS[len(options)]:
            break
        options.append(match.group(2))
    return options


def names(value: Any) -> list[str]:
    """A list of names from a list, a string holding a JSON / Python list, or a comma-separated string."""
    value = decode_structured(value)
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("names must be a list of strings or a comma-separated string")
    return [" ".join(v.split()) for v in value if v.strip()]


class FanToMRow(BaseModel):
    """A conversation, one question about it, its type and its gold."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    context: str = Field(min_length=1)
    complete_question: str = Field(
        min_length=1, validation_alias=AliasChoices("complete_question", "question")
    )
    question_type: str
    correct_answer: int | list[str] | str
    wrong_answer: list[str] | str = ""
    extra_info: str = Field(default="", description="an extra context section, usually empty")
    missed_info_accessibility: str | None = None
    set_id: int | str | None = None
    part_id: int | str | None = None
    tom_type: str | None = None

    @field_validator("question_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        question_family(value)
        return value

    @field_validator("correct_answer", mode="before")
    @classmethod
    def _gold(cls, value: Any, info: ValidationInfo) -> Any:
        question_type = info.data.get("question_type")
        if question_type is None:  # the type itself failed; that error is reported
            return value
        family = question_family(question_type)
        if family == "multiple_choice":
            return _option_index(value, mc_options(info.data.get("complete_question", "")))
        if family == "list":
            gold = names(value)
            if not gold:
                raise ValueError("a list question needs at least one name in correct_answer")
            return gold
        if family == "binary":
            answer = str(value).strip().lower()
            if answer not in BINARY_GOLD:
                raise ValueError(f"a binary question's answer must be yes, no or no:long, got {value!r}")
            return BINARY_GOLD[answer]
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
            raise ValueError("a fact question's answer must be a non-empty text")
        return str(value).strip()

    @field_validator("wrong_answer", mode="before")
    @classmethod
    def _wrong_names(cls, value: Any, info: ValidationInfo) -> Any:
        question_type = info.data.get("question_type")
        if question_type is None or question_family(question_type) != "list":
            return "" if value is None else value  # only list questions use wrong names
        wrong = names(value)
        gold = {name.lower() for name in info.data.get("correct_answer") or []}
        both = [name for name in wrong if name.lower() in gold]
        if both:
            raise ValueError(f"names in both correct_answer and wrong_answer: {both}")
        return wrong

    @field_validator("extra_info", mode="before")
    @classmethod
    def _no_extra(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("missed_info_accessibility", "tom_type", mode="before")
    @classmethod
    def _label(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @property
    def family(self) -> Family:
        return question_family(self.question_type)

    @property
    def options(self) -> list[str]:
        """The multiple-choice option texts (empty for other families)."""
        return mc_options(self.complete_question) if self.family == "multiple_choice" else []

    @property
    def gold_letter(self) -> str | None:
        """The multiple-choice gold as a letter (``A`` = option (a)); None for other families."""
        return LETTERS[self.correct_answer] if isinstance(self.correct_answer, int) else None


def _option_index(value: Any, options: list[str]) -> int:
    if not 2 <= len(options) <= MAX_OPTIONS:
        raise ValueError(
            f"a multiple-choice question needs 2..{MAX_OPTIONS} option lines '(a) ...', found {len(options)}"
        )
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"a multiple-choice answer must be an option index, got {value!r}")
    if not 0 <= value < len(options):
        raise ValueError(f"option index {value} is out of range for {len(options)} options")
    return value
