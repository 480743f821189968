"""The HUMANUAL data row (docs/tasks.md#humanual): a persona, a context and the reply the person wrote.

One row model serves the six domains. A row's domain comes from its ``data_source`` (``humanual-book``
or the file stem ``humanual_book``) or from ``dataset``; the generic key ``humanual`` is accepted only
when ``dataset`` names one of the six domains, and a ``dataset`` that disagrees with ``data_source`` is
rejected. A bare row with neither has no domain of its own and takes the env's.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from judges.soul_index import DATA_SOURCES
from osim_env.data import decode_structured

DOMAINS = ("book", "chat", "email", "news", "opinion", "politics")
GENERIC_SOURCE = "humanual"
CHAT_PERSONA = "A user chatting with an AI assistant."


def data_source_of(domain: str) -> str:
    """The canonical ``data_source`` of a domain: ``humanual-book`` ..."""
    return f"humanual-{domain}"


def accepted_sources(domain: str) -> tuple[str, ...]:
    """What a domain's env accepts: the canonical key, its file-stem alias and the generic key."""
    canonical = data_source_of(domain)
    return (canonical, *DATA_SOURCES[canonical], GENERIC_SOURCE)


def all_sources() -> tuple[str, ...]:
    """What the loader accepts: every domain's keys and the generic one."""
    return (*(s for d in DOMAINS for s in accepted_sources(d)[:-1]), GENERIC_SOURCE)


def domain_of(name: str) -> str | None:
    """The domain a ``data_source`` or ``dataset`` value names (``humanual-book``, ``humanual_book`` or
    ``book``), or None."""
    key = name.strip().lower()
    for prefix in ("humanual-", "humanual_"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key if key in DOMAINS else None


class ContextMessage(BaseModel):
    """One message of the context: who wrote it (a role or a user name) and what they wrote."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    role: str = Field(min_length=1)
    content: str
    metadata: dict[str, Any] | None = None

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: Any) -> Any:
        return str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else value


class HumanualRow(BaseModel):
    """A persona, the context (post first, then earlier comments or turns) and the real reply.

    The fields are checked in order, so ``dataset`` is checked against ``data_source``, the ``domain``
    follows from both, and ``persona`` may be left out only by a chat row."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    data_source: str | None = None
    dataset: str | None = Field(default=None, validate_default=True)
    domain: str | None = Field(default=None, validate_default=True, description="derived at load")
    persona: str | None = Field(default=None, validate_default=True)
    prompt: list[ContextMessage] = Field(min_length=1)
    completion: str = Field(min_length=1)
    user_id: str | None = None
    category: str | None = None
    id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _context_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("prompt") is None and data.get("context") is not None:
            data = {**data, "prompt": data["context"]}
        return data

    @field_validator("data_source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is not None and value != GENERIC_SOURCE and domain_of(value) is None:
            raise ValueError(f"{value!r} is not a HUMANUAL data_source")
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str | None, info: ValidationInfo) -> str | None:
        source = info.data.get("data_source")
        if value is None:
            if source == GENERIC_SOURCE:
                raise ValueError(f"data_source 'humanual' needs a dataset naming one of {list(DOMAINS)}")
            return None
        named = domain_of(value)
        if named is None:
            raise ValueError(f"{value!r} names none of the domains {list(DOMAINS)}")
        if source not in (None, GENERIC_SOURCE) and domain_of(source) != named:
            raise ValueError(f"{value!r} does not agree with data_source {source!r}")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None, info: ValidationInfo) -> str | None:
        source, dataset = info.data.get("data_source"), info.data.get("dataset")
        derived = domain_of(dataset) if dataset else domain_of(source) if source else None
        if value is not None and value not in DOMAINS:
            raise ValueError(f"must be one of {list(DOMAINS)}, got {value!r}")
        if value is not None and derived is not None and value != derived:
            raise ValueError(f"{value!r} does not agree with {derived!r}")
        return derived or value

    @field_validator("persona")
    @classmethod
    def _persona(cls, value: str | None, info: ValidationInfo) -> str:
        if value is not None and value.strip():
            return value.strip()
        if info.data.get("domain") != "chat":
            raise ValueError("is required (only chat rows may leave it out)")
        return CHAT_PERSONA

    @field_validator("prompt", mode="before")
    @classmethod
    def _messages(cls, value: Any) -> Any:
        value = decode_structured(value)
        if isinstance(value, str):  # plain text: the post alone
            return [{"role": "post", "content": value}]
        if isinstance(value, tuple):
            return list(value)
        return value

    @field_validator("prompt")
    @classmethod
    def _context_text(cls, value: list[ContextMessage]) -> list[ContextMessage]:
        if not any(m.content.strip() for m in value):
            raise ValueError("the context has no text")
        return value

    @field_validator("completion")
    @classmethod
    def _completion(cls, value: str) -> str:
        if not re.search(r"\w", value):
            raise ValueError("the real reply has no words")
        return value.strip()

    @field_validator("user_id", "category", "id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return None if value is None else str(value)
