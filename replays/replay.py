"""Replaying a stored episode through its env, and checking that it reproduces.

The event log is the state, and the first event of every agent action carries the exact action
string (``payload["raw"]``). Replay rebuilds the env from the record (env id, scenario row, options,
seed), re-steps those strings in order and compares, at every action, the observation the agent
acted on (against the digest the runner stored) and every event the step appends (against the
stored event). The first difference is reported; nothing is silently skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from osim_env.data import Scenario
from osim_env.episode import EpisodeRecord
from osim_env.events import ENV_SOURCE, Event
from osim_env.seeding import stable_hash
from replays.store import ReplayStore


def observation_digest(observation: Mapping[str, Any]) -> str:
    """A stable digest of one observation (what the runner stores for every action)."""
    return stable_hash("observation", dict(observation), length=64)


@dataclass(frozen=True)
class Mismatch:
    """The first place where the replay differs from the stored episode."""

    event_index: int
    what: str  # "observation", "event", "action order", "length"
    expected: Any
    actual: Any
    agent: str | None = None

    def __str__(self) -> str:
        who = f" ({self.agent})" if self.agent else ""
        return (
            f"event {self.event_index}{who}: {self.what} differs\n"
            f"  stored:   {self.expected}\n  replayed: {self.actual}"
        )


@dataclass(frozen=True)
class ReplayReport:
    episode_id: str
    n_actions: int
    n_events: int
    observations_checked: int
    mismatch: Mismatch | None = None

    @property
    def ok(self) -> bool:
        return self.mismatch is None

    def __str__(self) -> str:
        head = (
            f"episode {self.episode_id}: {self.n_actions} actions, {self.n_events} events, "
            f"{self.observations_checked} observations checked"
        )
        return f"{head}: reproduced exactly" if self.ok else f"{head}: MISMATCH at {self.mismatch}"


# Called for every re-stepped action: (agent, observation it acted on, action string, first event).
OnAction = Callable[[str, dict[str, Any], Any, Event], None]


def _normal(event: Event) -> dict[str, Any]:
    """An event as plain JSON data (tuples as lists), the form the store keeps."""
    return json.loads(json.dumps(event.to_dict(), sort_keys=True, default=str))


def _is_action(event: Event, agents: tuple[str, ...]) -> bool:
    """An agent's action: its first event carries the action string. (A scheduled join or leave has
    an agent as its source too, but no action string; a Sotopia "leave" action has one.)"""
    return event.source in agents and "raw" in event.payload and event.kind not in ("join", "end")


def _is_abort(event: Event) -> bool:
    return event.kind == "end" and bool(event.payload.get("failed"))


def rebuild_env(record: EpisodeRecord) -> Any:
    """A fresh, un-reset raw env configured like ``record`` (judging off: replay never calls a judge)."""
    import osim_env

    return osim_env.make_raw(record.env_id, judge=False, **record.options)


def reset_options(env: Any, record: EpisodeRecord) -> dict[str, Any]:
    """Reset options that rebuild the stored episode: its row under its stored id (rows need not
    carry an index) and the Ditto feedback it was given at reset, if any."""
    options: dict[str, Any] = {
        "scenario": Scenario(env.row_model.model_validate(record.scenario), record.scenario_id)
    }
    feedback = [
        e.text for e in record.events if e.kind == "feedback" and e.source == ENV_SOURCE and e.turn == 0
    ]
    if feedback:
        options["feedback"] = feedback[0]
    return options


def replay_record(
    record: EpisodeRecord,
    digests: Mapping[int, str] | None = None,
    *,
    on_action: OnAction | None = None,
    with_feedback: bool = True,
    env: Any = None,
) -> ReplayReport:
    """Re-step ``record``'s actions in a rebuilt env; report the first difference, if any.

    ``digests`` maps the index of each action's first event to the digest of the observation the
    agent acted on. ``on_action`` sees every re-stepped action (export builds prompts from it);
    ``with_feedback=False`` hands it observations without the verbal feedback given at reset.
    ``env``: a fresh ``rebuild_env(record)`` to replay into, which the caller keeps (the viewer renders
    each agent's final observation from it).
    """
    digests = dict(digests or {})
    env = rebuild_env(record) if env is None else env
    env.reset(seed=record.seed, options=reset_options(env, record))
    stored = list(record.events)
    agents = tuple(env.possible_agents)
    n_actions = checked = 0

    def report(mismatch: Mismatch | None) -> ReplayReport:
        return ReplayReport(record.episode_id, n_actions, len(env.log), checked, mismatch)

    if env.episode_id != record.episode_id:
        return report(Mismatch(0, "episode id", record.episode_id, env.episode_id))
    first = _first_difference(stored, list(env.log), 0)
    if first is not None:
        return report(first)
    while env.status == "running":
        at = len(env.log)
        if at >= len(stored):
            return report(Mismatch(at, "length", f"{len(stored)} events", f"the env goes on at event {at}"))
        expected = stored[at]
        if _is_abort(expected):
            env.abort(expected.payload.get("reason", ""))
        else:
            agent = env.agent_selection
            if not _is_action(expected, agents) or expected.source != agent:
                return report(Mismatch(at, "action order", _brief(expected), f"{agent} to act", agent=agent))
            observation = env.observe(agent)
            if at in digests:
                actual = observation_digest(observation)
                checked += 1
                if actual != digests[at]:
                    return report(Mismatch(at, "observation", digests[at], actual, agent=agent))
            action = expected.payload["raw"]
            if on_action is not None:
                seen = (
                    observation
                    if with_feedback
                    else {**observation, "messages": env.messages_for(agent, with_feedback=False)}
                )
                on_action(agent, seen, action, expected)
            env.step(action)
            n_actions += 1
        diff = _first_difference(stored, list(env.log), at)
        if diff is not None:
            return report(diff)
    if len(env.log) != len(stored):
        return report(Mismatch(len(env.log), "length", f"{len(stored)} events", f"{len(env.log)} events"))
    return report(None)


def replay_stored(store: ReplayStore, episode_id: str, run_id: str | None = None) -> ReplayReport:
    """Rebuild a stored episode's env, re-step its actions and check every observation and event
    (``episode_id`` may be a unique prefix; ``run_id`` is needed when several runs hold it)."""
    run_id, episode_id = store.resolve(episode_id, run_id)
    record = store.episode(episode_id, run_id)
    return replay_record(record, store.observation_digests(episode_id, run_id))


def _first_difference(stored: list[Event], live: list[Event], start: int) -> Mismatch | None:
    for i in range(start, len(live)):
        if i >= len(stored):
            return Mismatch(i, "event", "(no event)", _brief(live[i]))
        a, b = _normal(stored[i]), _normal(live[i])
        if a != b:
            return Mismatch(i, "event", a, b, agent=live[i].source)
    return None


def _brief(event: Event) -> str:
    return f"{event.kind} by {event.source}: {event.text[:80]!r}"
