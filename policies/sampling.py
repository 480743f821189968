"""Sampling parameters shared by the local backends (transformers and vLLM).

One validated object so that both backends read the same names, and so that the spec stored with
an episode lists exactly the parameters that shaped its text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Sampling(BaseModel):
    """Decoding parameters. ``temperature == 0`` means greedy decoding."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = Field(default=128, ge=1)
    min_new_tokens: int = Field(default=0, ge=0, description="eos is suppressed until this many tokens")
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=1)
    repetition_penalty: float = Field(default=1.0, gt=0.0)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def as_spec(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def budget(self, request_max_tokens: int | None) -> int:
        """The token budget of one request: its own ``max_tokens`` when given, else the policy's."""
        return self.max_new_tokens if request_max_tokens is None else int(request_max_tokens)
