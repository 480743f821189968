"""The HumanLLM item-selection data row (docs/tasks.md#humanllm).

A row is one shopper: a pre-rendered ``prompt_text`` (user description, ``History N:`` purchases and
``Candidate 1: ...`` lines), the candidate items in order and the 0-based index of the item the user
really bought next. The env relabels the candidates with letters from ``candidates``, so the prompt must
have the ``Candidate 1:`` marker where that list starts (without it the relabelled list would repeat
the original one).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from judges.extraction import LETTERS
from osim_env.data import decode_structured

DATA_SOURCE = "humanllm"
CANDIDATE_MARKER = "Candidate 1:"
MIN_CANDIDATES, MAX_CANDIDATES = 2, 20


def conversation_prompt(fields: dict[str, Any]) -> Any:
    """``conversations[0].messages[0].content`` (the "human-sim" wrapper), or None when absent."""
    conversations = decode_structured(fields.get("conversations"))
    try:
        return conversations[0]["messages"][0]["content"]
    except (TypeError, KeyError, IndexError):
        return None


class HumanLLMRow(BaseModel):
    """The rendered task text, the candidates in order and the gold candidate."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    prompt_text: str = Field(min_length=1)
    candidates: list[str]
    answer_index: int
    answer_letter: str | None = None
    answer_text: str | None = None
    split: str | None = None
    task: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _prompt_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("prompt_text") is None:
            text = conversation_prompt(data)
            if text is not None:
                data = {**data, "prompt_text": text}
        return data

    @field_validator("prompt_text")
    @classmethod
    def _prompt(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        if CANDIDATE_MARKER not in value:
            raise ValueError(f"has no {CANDIDATE_MARKER!r} marker where the candidate list starts")
        return value.strip()

    @field_validator("candidates", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        value = decode_structured(value)
        return list(value) if isinstance(value, tuple) else value

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, value: list[str]) -> list[str]:
        items = [item.strip() for item in value]
        if not MIN_CANDIDATES <= len(items) <= MAX_CANDIDATES:
            raise ValueError(f"needs {MIN_CANDIDATES} to {MAX_CANDIDATES} candidates, got {len(items)}")
        if not all(items):
            raise ValueError("a candidate is blank")
        return items

    @field_validator("answer_index", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isnan(value) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number, got {value!r}")
        return value

    @field_validator("answer_index")
    @classmethod
    def _in_range(cls, value: int, info: ValidationInfo) -> int:
        candidates = info.data.get("candidates")
        if candidates is not None and not 0 <= value < len(candidates):
            raise ValueError(f"must be within 0..{len(candidates) - 1} (0-based), got {value}")
        return value

    @field_validator("answer_letter")
    @classmethod
    def _letter(cls, value: str | None, info: ValidationInfo) -> str | None:
        index = info.data.get("answer_index")
        if value is None or index is None:
            return value
        if value.strip().upper() != LETTERS[index]:
            raise ValueError(f"is {value!r} but answer_index {index} is letter {LETTERS[index]}")
        return value.strip().upper()

    @field_validator("answer_text")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        index, candidates = info.data.get("answer_index"), info.data.get("candidates")
        if value is None or index is None or candidates is None:
            return value
        if value.strip() != candidates[index]:
            raise ValueError(f"is {value!r} but candidate {index} is {candidates[index]!r}")
        return value.strip()

    @field_validator("split", "task", mode="before")
    @classmethod
    def _meta(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @property
    def letters(self) -> str:
        """The candidate letters, A.. in candidate order."""
        return LETTERS[: len(self.candidates)]

    @property
    def gold_letter(self) -> str:
        return LETTERS[self.answer_index]

    @property
    def k(self) -> int:
        """How many letters a ranking has: 5, or every candidate when there are fewer."""
        return min(5, len(self.candidates))
