"""The SocSci210 data row (docs/tasks.md#socsci210).

A row is one survey participant's answer to one outcome question of a social-science experiment. The
task text (demographics, stimulus, question and answer format) comes pre-rendered in ``prompt_text``;
the gold ``response`` must be a point of the row's own scale. Ordinal and categorical rows must state
their bounds: there is no default scale, so a row without ``r_min``/``r_max`` fails at load instead of
being scored on an invented 0..7 range.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from osim_env.data import decode_structured

DATA_SOURCE = "socsci210"
ResponseType = Literal["ordinal", "binary", "categorical"]


def conversation_prompt(fields: dict[str, Any]) -> Any:
    """``conversations[0].messages[0].content`` (the "human-sim" wrapper), or None when absent."""
    conversations = decode_structured(fields.get("conversations"))
    try:
        return conversations[0]["messages"][0]["content"]
    except (TypeError, KeyError, IndexError):
        return None


def whole_number(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (3 or 3.0), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and (math.isnan(value) or not value.is_integer()):
        return None
    return int(value)


class SocSci210Row(BaseModel):
    """The rendered task text, the participant's answer and the scale it was given on."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    prompt_text: str = Field(min_length=1)
    response_type: ResponseType = "ordinal"
    r_min: int | None = None
    r_max: int | None = Field(default=None, validate_default=True)
    response: int
    study_id: str | None = None
    condition_id: str | None = None
    outcome_id: str | None = None

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
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("response_type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return "ordinal" if value is None else str(value).strip().lower()

    @field_validator("r_min", "r_max", "response", mode="before")
    @classmethod
    def _integer(cls, value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        number = whole_number(value)
        if number is None:
            raise ValueError(f"must be a whole number, got {value!r}")
        return number

    @field_validator("r_max")
    @classmethod
    def _bounds(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind, low = info.data.get("response_type", "ordinal"), info.data.get("r_min")
        if kind == "binary":
            return value
        if low is None or value is None:
            raise ValueError(f"{kind} rows need r_min and r_max (there is no default scale)")
        if value <= low:
            raise ValueError(f"r_max ({value}) must be greater than r_min ({low})")
        return value

    @field_validator("response")
    @classmethod
    def _on_scale(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("response_type") == "binary":
            low, high = 0, 1
        else:
            low, high = info.data.get("r_min"), info.data.get("r_max")
            if low is None or high is None:  # the bounds already failed
                return value
        if not low <= value <= high:
            raise ValueError(f"response {value} is outside the scale {low}..{high}")
        return value

    @field_validator("study_id", "condition_id", "outcome_id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @property
    def scale(self) -> tuple[int, int]:
        """(lowest, highest) answer: the row's bounds; 0..1 for binary rows (no = 0, yes = 1)."""
        if self.response_type == "binary":
            return 0, 1
        assert self.r_min is not None and self.r_max is not None  # checked at load
        return self.r_min, self.r_max
