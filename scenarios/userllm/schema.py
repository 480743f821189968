"""The UserLLM data row (docs/tasks.md#userllm).

One row is one user turn to simulate: the user's intent, the conversation so far and what each subset's
judge needs (CSQA answer choices, the NQ question and the assistant's deflection, the PRISM
end-of-conversation flag). The subset follows from ``source``; a row that its judge could not score
(an unknown source, a CSQA row without choices, an NQ row without its question or deflection) is
rejected here, at load, and never becomes an episode.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from osim_env.data import decode_structured

DATA_SOURCE = "userllm"
Subset = Literal["csqa", "nq", "prism"]
# The instruction some rows put in front of the intent; the env writes its own.
_PREAMBLE = re.compile(r"^\s*you are a user chatting with[^\n.:]*[.:]?\s*", re.IGNORECASE)


def subset_of_source(source: str) -> Subset:
    """``commonsense_qa`` -> CSQA, ``natural_questions`` -> NQ, any source containing ``prism`` -> PRISM."""
    if source == "commonsense_qa":
        return "csqa"
    if source == "natural_questions":
        return "nq"
    if "prism" in source.lower():
        return "prism"
    raise ValueError(
        f"unknown UserLLM source {source!r} (expected commonsense_qa, natural_questions or a PRISM source)"
    )


class HistoryTurn(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    role: str = Field(min_length=1)
    content: str


class UserLLMRow(BaseModel):
    """An intent, the conversation so far and the subset's judging material."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    source: str = Field(min_length=1)
    intent: str = Field(validation_alias=AliasChoices("intent", "intent_summary", "opening_prompt"))
    conversation_history: str | list[HistoryTurn] = ""
    is_last_turn: bool | None = None
    choices: list[str] = Field(default_factory=list, validate_default=True)
    question: str = Field(default="", validate_default=True)
    assistant_suggestion_turn: str = Field(default="", validate_default=True)
    id: str | None = None
    turn: int | None = None

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        subset_of_source(value)
        return value

    @field_validator("intent")
    @classmethod
    def _intent(cls, value: str) -> str:
        intent = _PREAMBLE.sub("", value, count=1).strip()
        if not intent:
            raise ValueError("the intent is empty")
        return intent

    @field_validator("conversation_history", mode="before")
    @classmethod
    def _history(cls, value: Any) -> Any:
        return "" if value is None else decode_structured(value)

    @field_validator("is_last_turn", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        """A real boolean: ``true``/``false`` (any case) or a bool; ``""`` is no flag. Anything else is
        rejected (a string ``"False"`` must never read as true)."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if not lowered:
                return None
        raise ValueError(f"is_last_turn must be true or false, got {value!r}")

    @field_validator("choices", mode="before")
    @classmethod
    def _choice_texts(cls, value: Any, info: ValidationInfo) -> list[str]:
        """``{"label": [...], "text": [...]}`` or a list of texts; required (non-empty) for CSQA."""
        value = decode_structured(value)
        if value is None:
            value = []
        if isinstance(value, dict):
            value = value.get("text", [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError('choices must be {"label": [...], "text": [...]} or a list of strings')
        texts = [v.strip() for v in value if v.strip()]
        if not texts and cls._subset(info) == "csqa":
            raise ValueError("a CSQA row needs answer choices")
        return texts

    @field_validator("question", "assistant_suggestion_turn", mode="before")
    @classmethod
    def _nq_text(cls, value: Any, info: ValidationInfo) -> str:
        """The NQ question and deflection: required (non-blank) on NQ rows."""
        text = "" if value is None else value
        if not isinstance(text, str):
            raise ValueError(f"must be a string, got {type(text).__name__}")
        if not text.strip() and cls._subset(info) == "nq":
            raise ValueError(f"an NQ row needs {info.field_name}")
        return text.strip()

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @staticmethod
    def _subset(info: ValidationInfo) -> Subset | None:
        source = info.data.get("source")  # absent when the source itself failed validation
        return subset_of_source(source) if source else None

    @property
    def subset(self) -> Subset:
        return subset_of_source(self.source)

    @property
    def has_history(self) -> bool:
        if isinstance(self.conversation_history, str):
            return bool(self.conversation_history.strip())
        return bool(self.conversation_history)

    def history_text(self) -> str:
        """The conversation so far as ``role: content`` lines (a string history as it is)."""
        if isinstance(self.conversation_history, str):
            return self.conversation_history.strip()
        return "\n".join(f"{turn.role}: {turn.content}" for turn in self.conversation_history)

    def user_turns(self) -> list[str]:
        """The user's earlier messages (list histories only; a string history is not split)."""
        if isinstance(self.conversation_history, str):
            return []
        return [turn.content for turn in self.conversation_history if turn.role.lower() in ("user", "human")]
