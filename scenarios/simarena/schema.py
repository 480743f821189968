"""The SimulatorArena rows (docs/tasks.md#simarena): a math-tutoring row (``soul/simarena-math-v0``) and a
document-creation row (``soul/simarena-doc-v0``), each with the real user's messages and conversation.

The original reads its fields from ``extra_info``, with an optional JSON string ``raw`` merged over them;
the row models do the same. Malformed rows fail here, at load, never in the middle of an episode.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from osim_env.data import decode_structured

MATH_SOURCES = ("sim_arena_math", "sim_math")  # canonical routing key, then the file-stem alias
DOC_SOURCES = ("sim_arena_doc", "sim_doc")


def merge_raw(data: Any) -> Any:
    """The row's fields with ``raw`` (a JSON object or its string) merged over them."""
    if not isinstance(data, dict) or "raw" not in data:
        return data
    raw = data["raw"]
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"raw is not valid JSON: {exc.msg}") from exc
    if raw is None:
        return {k: v for k, v in data.items() if k != "raw"}
    if not isinstance(raw, dict):
        raise ValueError("raw must be a JSON object")
    return {**{k: v for k, v in data.items() if k != "raw"}, **raw}


class Turn(BaseModel):
    """One turn of the real conversation."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    role: Literal["user", "assistant"]
    content: str

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class Feature(BaseModel):
    """A target style feature of the real user: a name and what it says about the user."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    name: str = Field(validation_alias=AliasChoices("Feature Name", "name"))
    description: str = Field(
        validation_alias=AliasChoices("Feature Question Answer", "Feature Question", "description")
    )


def features(value: Any) -> list[dict[str, str]]:
    """Target features: entries without a name or a text are dropped (as the original does)."""
    value = decode_structured(value)
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise ValueError("target features must be a list of objects")
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise ValueError("each target feature must be an object")
        name = str(item.get("Feature Name") or item.get("name") or "").strip()
        text = item.get("Feature Question Answer") or item.get("Feature Question") or item.get("description")
        text = str(text or "").strip()
        if name and text:
            out.append({"name": name, "description": text})
    return out


class SimArenaRow(BaseModel):
    """What both tasks share: the profile, the real user's messages and the real conversation."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_profile_text: str = ""
    human_user_queries: list[str]
    human_public_conversation: list[Turn]
    data_source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _merge_raw(cls, data: Any) -> Any:
        return merge_raw(data)

    @field_validator("human_user_queries", mode="before")
    @classmethod
    def _queries(cls, value: Any) -> Any:
        value = decode_structured(value)
        return [value] if isinstance(value, str) else value

    @field_validator("human_public_conversation", mode="before")
    @classmethod
    def _conversation(cls, value: Any) -> Any:
        return decode_structured(value)

    @field_validator("user_profile_text", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("human_user_queries")
    @classmethod
    def _has_queries(cls, value: list[str]) -> list[str]:
        value = [q for q in value if q.strip()]
        if not value:
            raise ValueError("the real user has no message")
        return value

    @field_validator("human_public_conversation")
    @classmethod
    def _has_a_user_turn(cls, value: list[Turn]) -> list[Turn]:
        if not any(t.role == "user" and t.content.strip() for t in value):
            raise ValueError("the real conversation has no user turn")
        return value


class MathRow(SimArenaRow):
    """A student tutored on a math problem (docs/tasks.md#simarena)."""

    problem: str = Field(min_length=1)
    target_interaction_style_features: list[Feature] = Field(default_factory=list)
    correct_answer: str | None = None  # not used by the metric; kept out of feedback
    human_answer_correct: bool | None = None

    @field_validator("target_interaction_style_features", mode="before")
    @classmethod
    def _features(cls, value: Any) -> Any:
        return features(value)

    @field_validator("problem")
    @classmethod
    def _problem(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("correct_answer", mode="before")
    @classmethod
    def _answer_text(cls, value: Any) -> Any:
        return None if value is None or value == "" else str(value)

    def target_features(self) -> list[tuple[str, Feature]]:
        """(category, feature) pairs the fulfillment judge checks."""
        return [("interaction style", f) for f in self.target_interaction_style_features]


class DocRow(SimArenaRow):
    """A user writing a document with an AI writing assistant (docs/tasks.md#simarena)."""

    document_type: str = Field(min_length=1)
    intent: str = Field(min_length=1)
    pre_writing_materials_text: str = ""
    target_writing_style_features: list[Feature] = Field(default_factory=list)
    target_interaction_style_features: list[Feature] = Field(default_factory=list)
    target_document_preferences: str = ""

    @field_validator("target_writing_style_features", "target_interaction_style_features", mode="before")
    @classmethod
    def _features(cls, value: Any) -> Any:
        return features(value)

    @field_validator("pre_writing_materials_text", "target_document_preferences", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("document_type", "intent")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    def target_features(self) -> list[tuple[str, Feature]]:
        return [("writing style", f) for f in self.target_writing_style_features] + [
            ("interaction style", f) for f in self.target_interaction_style_features
        ]
