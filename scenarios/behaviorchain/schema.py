"""The BehaviorChain data row (docs/tasks.md#behaviorchain): one node of a persona's behavior chain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from judges.soul_index import accepted_sources
from osim_env.data import decode_structured

DATA_SOURCE = "behavior_chain"
DATA_SOURCES = accepted_sources(DATA_SOURCE)
OPTION_LETTERS = ("A", "B", "C", "D")


class ChainStep(BaseModel):
    """An earlier node of the chain with its gold behavior (rows are teacher-forced)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    context: str
    behavior: str


class BehaviorChainRow(BaseModel):
    """Persona profile, story so far, earlier context→behavior steps, the current context, four options."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    persona_name: str = Field(min_length=1)
    profile_text: str = ""
    history_truncated: list[str] = Field(default_factory=list, description="chapters, oldest first")
    prior_chain: list[ChainStep] = Field(default_factory=list)
    prior_chain_text: str = ""
    current_context: str = Field(min_length=1)
    options_dict: dict[str, str]
    right_option_letter: str
    persona_id: str | None = None
    step: int | None = None
    index: int | str | None = None

    @model_validator(mode="before")
    @classmethod
    def _raw_and_aliases(cls, data: Any) -> Any:
        """The original keeps the whole row as a JSON string in ``raw``; accept it decoded or not."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if "raw" in data:
            raw = decode_structured(data.pop("raw"))
            if not isinstance(raw, Mapping):
                raise ValueError("raw must be a JSON object (or its string) holding the row")
            data = {**raw, **{k: v for k, v in data.items() if k == "index"}}
        for alias, name in (("profile", "profile_text"), ("history_text", "history_truncated")):
            if alias in data and name not in data:
                data[name] = data.pop(alias)
        if "options" in data and "options_dict" not in data:
            data["options_dict"] = data.pop("options")
        return data

    @field_validator("history_truncated", mode="before")
    @classmethod
    def _chapters(cls, value: Any) -> list[str]:
        value = decode_structured(value)
        if value is None:
            return []
        if isinstance(value, str):
            return [value] if value.strip() else []
        if not isinstance(value, list):
            raise ValueError("history_truncated must be a list of chapters or a string")
        chapters = []
        for chapter in value:
            if isinstance(chapter, Mapping):
                number = str(chapter.get("chapter_num") or "").strip()
                content = str(chapter.get("chapter_content") or "").strip()
                chapters.append(f"{number}\n{content}" if number else content)
            elif isinstance(chapter, str):
                chapters.append(chapter)
            else:
                raise ValueError("a chapter must be {chapter_num, chapter_content} or a string")
        return [c for c in chapters if c.strip()]

    @field_validator("prior_chain", mode="before")
    @classmethod
    def _chain(cls, value: Any) -> Any:
        value = decode_structured(value)
        return [] if value is None else value

    @field_validator("options_dict", mode="before")
    @classmethod
    def _options(cls, value: Any) -> dict[str, str]:
        value = decode_structured(value)
        if isinstance(value, list):
            value = dict(zip(OPTION_LETTERS, value, strict=False)) if len(value) == 4 else value
        if not isinstance(value, Mapping) or sorted(value) != list(OPTION_LETTERS):
            raise ValueError("options must be an object with keys A, B, C, D (or a list of 4)")
        if any(not isinstance(v, str) or not v.strip() for v in value.values()):
            raise ValueError("every option A-D must be a non-empty string")
        return {k: str(value[k]).strip() for k in OPTION_LETTERS}

    @field_validator("right_option_letter", mode="before")
    @classmethod
    def _gold(cls, value: Any) -> str:
        letter = str(value).strip()
        if letter not in OPTION_LETTERS:
            raise ValueError(f"right_option_letter must be one of A-D, got {value!r}")
        return letter
