"""The AlignX data row (docs/tasks.md#alignx): a post, the user's preferred and rejected reply, and what
is known about the user (a description, earlier preference pairs, earlier comments)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from judges.soul_index import accepted_sources
from osim_env.data import decode_structured

DATA_SOURCE = "alignx"
DATA_SOURCES = accepted_sources(DATA_SOURCE)

# Published column name -> row field (the AlignX release's long names).
ALIASES = {
    "post": "raw_prompt",
    "Demographic Information": "demographic",
    "Pair-wise Comparative Feedback": "icl_pairs",
    "User-Generated Content": "ugc",
}


class PreferencePair(BaseModel):
    """An earlier post with the reply this user preferred and the one they rejected."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    prompt: str = ""
    chosen: str = ""
    rejected: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.prompt.strip() and self.chosen.strip() and self.rejected.strip())


class UserComment(BaseModel):
    """An earlier post with this user's own comment on it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    prompt: str = ""
    comment: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.prompt.strip() and self.comment.strip())


class AlignXRow(BaseModel):
    """One preference pair to predict, with the user signals its variant carries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    raw_prompt: str = Field(min_length=1)
    chosen: str = Field(min_length=1)
    rejected: str = Field(min_length=1)
    demographic: str = ""
    profile: str = ""
    icl_pairs: list[PreferencePair] = Field(default_factory=list)
    ugc: list[UserComment] = Field(default_factory=list)
    n_icl: int = Field(default=2, ge=0)
    n_ugc: int = Field(default=2, ge=0)
    index: int | str | None = None
    data_source: str = Field(default=DATA_SOURCE, description="the published data_source: names the variant")

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for alias, name in ALIASES.items():
            if alias in data and not data.get(name):
                data[name] = data.pop(alias)
        return data

    @field_validator("demographic", "profile", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return "" if value is None else value

    @field_validator("icl_pairs", "ugc", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        value = decode_structured(value)
        return [] if value is None else value

    @field_validator("chosen", "rejected", "raw_prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("data_source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value not in DATA_SOURCES:
            raise ValueError(f"data_source must be one of {list(DATA_SOURCES)}, got {value!r}")
        return value

    @property
    def variant(self) -> str:
        return variant_of(self.data_source)


def variant_of(data_source: str) -> str:
    """``demo``, ``pair``, ``ugc``, ``arbitrary``, ``history16``; ``train`` for plain ``alignx`` rows."""
    return data_source.removeprefix("alignx_") if data_source != DATA_SOURCE else "train"
