"""Judging one turn: the episode prefix up to and including a turn event, judged for the agent who acted.

A turn-level judgment is an ordinary judgment of a shorter episode (the events up to the turn, with the
acting agent as the only judged agent), so every judge can give one: rule judges read the prefix,
LLM judges build their query on the prefix transcript (a different transcript, so a different cache
key from the full episode or any other turn), detectors report only the evidence that the turn added.
The judgment's ``judge`` spec carries ``"turn": event_index`` so per-turn and per-episode results are
never confused in a store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judges.judgment import Judgment
from osim_env.aio import run_sync
from osim_env.episode import EpisodeRecord

TURN_EVENT_KINDS = ("message", "action", "leave", "invalid_action")


def _position(record: EpisodeRecord, event_index: int) -> int:
    for position, event in enumerate(record.events):
        if event.index == event_index:
            return position
    raise ValueError(f"episode {record.episode_id} has no event {event_index}")


def turn_prefix(record: EpisodeRecord, event_index: int) -> tuple[EpisodeRecord, str]:
    """The episode up to and including turn event ``event_index`` (its ``Event.index``), with the acting
    agent as the only judged agent; and that agent. A prefix that stops early is ``running``."""
    position = _position(record, event_index)
    event = record.events[position]
    if event.kind not in TURN_EVENT_KINDS:
        raise ValueError(f"event {event_index} is a {event.kind!r} event, not a turn ({TURN_EVENT_KINDS})")
    last = position == len(record.events) - 1
    update: dict[str, Any] = {"events": record.events[: position + 1], "policy_agents": (event.source,)}
    if not last:
        update.update(status="running", termination=None, truncated=False)
    return record.model_copy(update=update), event.source


def before_turn(record: EpisodeRecord, event_index: int) -> EpisodeRecord:
    """The episode up to, not including, event ``event_index``."""
    return record.model_copy(update={"events": record.events[: _position(record, event_index)]})


def turn_indices(record: EpisodeRecord, agent: str | None = None) -> list[int]:
    """The event indices of the turns in the episode (of one agent when given), in order."""
    return [
        e.index for e in record.events if e.kind in TURN_EVENT_KINDS and (agent is None or e.source == agent)
    ]


def mark_turn(judgment: Judgment, event_index: int) -> Judgment:
    """The judgment with the turn it is about recorded in its judge spec."""
    return judgment.model_copy(update={"judge": {**judgment.judge, "turn": event_index}})


def only_actor(judgments: dict[str, Judgment], actor: str, event_index: int) -> dict[str, Judgment]:
    """The acting agent's judgment (marked with the turn); empty when the judge does not judge it."""
    judgment = judgments.get(actor)
    return {} if judgment is None else {actor: mark_turn(judgment, event_index)}


async def judge_turns_via_episodes(
    judge: Any, items: Sequence[tuple[EpisodeRecord, int]]
) -> list[dict[str, Judgment]]:
    """Turn judgments from any episode judge: judge each prefix as an episode, keep the actor."""
    prefixes = [turn_prefix(record, index) for record, index in items]
    records = [p for p, _ in prefixes]
    if hasattr(judge, "judge_batch"):
        results = await judge.judge_batch(records)
    else:
        import asyncio

        results = [await asyncio.to_thread(judge.judge_episode, r) for r in records]
    return [
        only_actor(dict(result), actor, index)
        for result, (_, actor), (_, index) in zip(results, prefixes, items)
    ]


async def judge_turn_batch(
    judge: Any, items: Sequence[tuple[EpisodeRecord, int]]
) -> list[dict[str, Judgment]]:
    """Turn judgments from any judge: its own ``judge_turn_batch`` when it has one, else via prefixes."""
    if hasattr(judge, "judge_turn_batch"):
        return list(await judge.judge_turn_batch(items))
    return await judge_turns_via_episodes(judge, items)


def judge_turn(judge: Any, record: EpisodeRecord, event_index: int) -> dict[str, Judgment]:
    """One turn's judgment from any judge (sync)."""
    if hasattr(judge, "judge_turn"):
        return dict(judge.judge_turn(record, event_index))
    return run_sync(judge_turns_via_episodes(judge, [(record, event_index)]))[0]
