"""The MirrorBench data row (docs/tasks.md#mirrorbench): a user's goal and style, and the conversation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from osim_env.data import decode_structured

DATA_SOURCE = "mirrorbench"
# Speaker names other corpora use, normalized to the two roles of the task.
ROLE_ALIASES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
}


class Turn(BaseModel):
    """One turn of the human conversation."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    role: Literal["user", "assistant"] = Field(validation_alias=AliasChoices("role", "from", "speaker"))
    content: str = Field(validation_alias=AliasChoices("content", "text", "value"))

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: Any) -> Any:
        if isinstance(value, str):
            return ROLE_ALIASES.get(value.strip().lower(), value)
        return value

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a turn must have text")
        return value


class MirrorBenchRow(BaseModel):
    """A synthesized description of the user and the real human–assistant conversation it describes."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_description: str = Field(
        min_length=1, validation_alias=AliasChoices("task_description", "user_description", "description")
    )
    turns: list[Turn] = Field(validation_alias=AliasChoices("turns", "conversation", "messages"))
    subset: str | None = Field(default=None, validation_alias=AliasChoices("subset", "dataset"))
    conversation_id: str | None = None
    few_shot_user_examples: list[dict[str, Any]] = Field(default_factory=list)  # unused in v0

    @field_validator("turns", "few_shot_user_examples", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return decode_structured(value)

    @field_validator("few_shot_user_examples", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("task_description")
    @classmethod
    def _description(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("conversation_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @field_validator("turns")
    @classmethod
    def _has_a_user_turn(cls, value: list[Turn]) -> list[Turn]:
        if not any(t.role == "user" for t in value):
            raise ValueError("the conversation has no user turn")
        return value

    def script(self, max_user_turns: int) -> list[Turn]:
        """The turns an episode plays: up to the ``max_user_turns``-th user turn, without trailing
        assistant turns (the episode ends after the last user turn)."""
        out: list[Turn] = []
        users = 0
        for turn in self.turns:
            if turn.role == "user":
                if users == max_user_turns:
                    break
                users += 1
            out.append(turn)
        while out[-1].role != "user":
            out.pop()
        return out
