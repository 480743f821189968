"""The finished (or running) episode as one plain record.

This is the contract between the env, judges, the replay store and learners: everything needed to
judge, store, replay or train on an episode, and nothing that depends on wall-clock time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from osim_env.events import Event

EpisodeStatus = Literal["running", "ok", "judge_error", "failed", "unjudged"]


class EpisodeRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    episode_id: str
    env_id: str
    scenario_id: str
    seed: int | None
    scenario: dict[str, Any] = Field(description="the validated data row (task fields)")
    options: dict[str, Any] = Field(default_factory=dict, description="env options that shaped the episode")
    agents: tuple[str, ...]
    policy_agents: tuple[str, ...] = Field(description="the agents that are trained / evaluated")
    events: tuple[Event, ...]
    status: EpisodeStatus = "running"
    termination: str | None = Field(default=None, description="why the episode ended")
    truncated: bool = False

    def events_of(self, agent: str, kinds: tuple[str, ...] = ("message", "action")) -> list[Event]:
        return [e for e in self.events if e.source == agent and e.kind in kinds]
