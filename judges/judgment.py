"""What a judge returns, and the protocol every judge follows.

A judgment never invents a number: when the judge could not score (a failed call, output that does
not validate, an out-of-range value) ``error`` is set and ``score`` is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from osim_env.episode import EpisodeRecord


class Feedback(BaseModel):
    """Verbal feedback (the "h" of verbal-feedback RL)."""

    model_config = ConfigDict(frozen=True)

    critique: str
    reflection: str | None = None
    per_dimension: dict[str, str] = Field(default_factory=dict)


class Judgment(BaseModel):
    """One agent's judgment for one episode (or one turn)."""

    model_config = ConfigDict(frozen=True)

    agent: str
    score: float | None = Field(default=None, description="normalized to [0, 1], higher is better")
    dims: dict[str, float] = Field(default_factory=dict, description="raw values in native ranges")
    reasons: dict[str, str] = Field(default_factory=dict, description="per-dimension reasoning")
    feedback: Feedback | None = None
    flags: dict[str, Any] = Field(default_factory=dict, description="detector results")
    raw: str | None = Field(default=None, description="the judge's raw output")
    judge: dict[str, Any] = Field(default_factory=dict, description="the judge spec")
    error: str | None = None

    @model_validator(mode="after")
    def _score_or_error(self) -> Judgment:
        if self.error is not None and self.score is not None:
            raise ValueError("a judgment with an error has no score")
        if self.error is None and self.score is None:
            raise ValueError("a judgment without an error needs a score")
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score} is outside [0, 1]")
        return self

    @classmethod
    def failed(cls, agent: str, error: str, judge: Mapping[str, Any] | None = None, **kw: Any) -> Judgment:
        return cls(agent=agent, score=None, error=error, judge=dict(judge or {}), **kw)


@runtime_checkable
class Judge(Protocol):
    """Maps a finished episode to one judgment per judged agent.

    ``spec`` is a JSON-serializable description (kind, model, prompt version) stored with every
    judgment and used as part of the cache key.
    """

    spec: dict[str, Any]

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]: ...

    async def judge_batch(self, episodes: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]: ...


@runtime_checkable
class TurnJudge(Judge, Protocol):
    """A judge that also judges one turn: the episode prefix up to and including turn event
    ``event_index`` (its ``Event.index``), for the agent who acted (see ``judges.turns``)."""

    def judge_turn(self, record: EpisodeRecord, event_index: int) -> dict[str, Judgment]: ...

    async def judge_turn_batch(
        self, items: Sequence[tuple[EpisodeRecord, int]]
    ) -> list[dict[str, Judgment]]: ...
