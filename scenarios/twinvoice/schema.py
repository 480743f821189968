"""The TwinVoice data row (docs/tasks.md#twinvoice).

A row is one person's past posts, a new post (the anchor) and four candidate replies, one of which
that person wrote. ``dimension`` says which kind of persona the row tests (social, interpersonal or
narrative); the leaderboard breaks accuracy down by it.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from osim_env.data import decode_structured

DATA_SOURCE = "twinvoice"
DIMENSIONS = ("social", "interpersonal", "narrative")
N_CHOICES = 4


def _string_list(value: Any) -> Any:
    """A list, or a JSON / Python list in a string (decoded, never ``eval``-ed)."""
    value = decode_structured(value)
    if isinstance(value, tuple):
        return list(value)
    return value


class TwinVoiceRow(BaseModel):
    """A person's history, an anchor post, four candidate replies and the index of theirs."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    conversation_history: list[str] = Field(
        min_length=1, validation_alias=AliasChoices("conversation_history", "history")
    )
    anchor_post: str = Field(min_length=1)
    answer_choices: list[str] = Field(validation_alias=AliasChoices("answer_choices", "choices"))
    answer_idx: int = Field(ge=0, le=N_CHOICES - 1)
    dimension: str | None = None
    id: int | str | None = None
    user_id: int | str | None = None

    @field_validator("conversation_history", "answer_choices", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return _string_list(value)

    @field_validator("conversation_history")
    @classmethod
    def _history(cls, value: list[str]) -> list[str]:
        posts = [post.strip() for post in value if post.strip()]
        if not posts:
            raise ValueError("needs at least one non-empty post")
        return posts

    @field_validator("anchor_post")
    @classmethod
    def _anchor(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("answer_choices")
    @classmethod
    def _choices(cls, value: list[str]) -> list[str]:
        choices = [choice.strip() for choice in value]
        if len(choices) != N_CHOICES:
            raise ValueError(f"needs exactly {N_CHOICES} choices, got {len(choices)}")
        if not all(choices):
            raise ValueError("a choice is empty")
        if len(set(choices)) != N_CHOICES:
            raise ValueError("choices must be distinct")
        return choices

    @field_validator("answer_idx", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"must be an integer 0..{N_CHOICES - 1}, got {value!r}")
        return value

    @field_validator("dimension", mode="before")
    @classmethod
    def _dimension(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"must be one of {DIMENSIONS} or null, got {value!r}")
        name = value.strip().lower()
        if not name:
            return None
        if name not in DIMENSIONS:
            raise ValueError(f"must be one of {DIMENSIONS} or null, got {value!r}")
        return name

    @property
    def gold(self) -> str:
        """The letter of the person's own reply."""
        return "ABCD"[self.answer_idx]
