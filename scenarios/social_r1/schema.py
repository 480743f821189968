"""The Social-R1 data row (docs/tasks.md#social-r1): a pre-rendered prompt with its options inside."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from judges.extraction import LETTERS
from judges.soul_index import accepted_sources, rendered_options
from osim_env.data import decode_structured

DATA_SOURCE = "social_r1"
DATA_SOURCES = accepted_sources(DATA_SOURCE)

# "B. text" or "B) text" or a bare "B": the leading gold letter of ``answer_text``.
_LEADING_LETTER = re.compile(r"^\s*([A-Z])(?:[.)](?:\s+|$)|$)")


def _first_message_content(value: Any) -> Any:
    """``conversations[0].messages[0].content`` (the human-sim wrapper) or a chat list's first content."""
    value = decode_structured(value)
    if isinstance(value, list) and value:
        first = value[0]
        if isinstance(first, Mapping) and "messages" in first:
            return _first_message_content(first["messages"])
        if isinstance(first, Mapping) and "content" in first:
            return first["content"]
    return value


class SocialR1Row(BaseModel):
    """A social-reasoning MCQ whose story, question and lettered options are already rendered."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    prompt_text: str = Field(min_length=1)
    answer_letter: str | None = None
    answer_text: str | None = None
    category: str | None = None
    index: int | str | None = None
    options: list[str] = Field(default_factory=list, description="parsed from prompt_text at load")
    gold: str = Field(default="", description="the gold letter, derived at load")

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("prompt_text"):
            data = dict(data)
            for alias in ("conversations", "prompt"):
                if data.get(alias):
                    data["prompt_text"] = _first_message_content(data[alias])
                    break
        return data

    @model_validator(mode="after")
    def _options_and_gold(self) -> SocialR1Row:
        options = rendered_options(self.prompt_text)
        letters = LETTERS[: len(options)]
        gold = self._gold_letter(options)
        if gold not in letters:
            raise ValueError(f"gold letter {gold!r} is not one of the options {letters[0]}..{letters[-1]}")
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "gold", gold)
        return self

    def _gold_letter(self, options: list[str]) -> str:
        """``answer_letter``, else the leading ``X.``/``X)`` of ``answer_text``, else the one option whose
        text equals ``answer_text``; never the first character of the text (docs/tasks.md#social-r1)."""
        from_text = None
        if self.answer_text and self.answer_text.strip():
            m = _LEADING_LETTER.match(self.answer_text)
            if m:
                from_text = m.group(1)
            else:
                hits = [i for i, o in enumerate(options) if o.strip() == self.answer_text.strip()]
                if len(hits) != 1:
                    raise ValueError(
                        f"answer_text {self.answer_text!r} has no leading letter and matches "
                        f"{len(hits)} options (need exactly one)"
                    )
                from_text = LETTERS[hits[0]]
        letter = (self.answer_letter or "").strip()
        if letter:
            if len(letter) != 1 or letter not in LETTERS:
                raise ValueError(f"answer_letter must be one upper-case letter, got {self.answer_letter!r}")
            if from_text is not None and from_text != letter:
                raise ValueError(f"answer_letter {letter!r} disagrees with answer_text {self.answer_text!r}")
            return letter
        if from_text is None:
            raise ValueError("no gold: neither answer_letter nor answer_text names an option")
        return from_text
