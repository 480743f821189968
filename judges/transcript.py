"""What a judge reads from an episode: the agents' visible turns, rendered as plain text.

Judges never see thinking (already removed from ``payload["text"]`` by the env), privileged feedback
events, or bookkeeping events (system notices, the end marker). The rendering is a pure function of
the event log, so the same episode always gives the same transcript (and the same cache key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from osim_env.episode import EpisodeRecord
from osim_env.events import Event

TURN_KINDS = ("message", "action", "leave", "invalid_action", "narration")
TEXT_KINDS = ("message", "action")

Describe = Callable[[str, Event], str | None]


def default_describe(name: str, event: Event) -> str | None:
    """``Name: text`` for speech, ``Name [action] text`` for actions, a note for leaving / invalid turns."""
    if event.kind == "message":
        return f"{name}: {event.text}"
    if event.kind == "action":
        return f"{name} [action] {event.text}"
    if event.kind == "narration":
        return f"{name}: {event.text}" if name else event.text
    if event.kind == "leave":
        return f"{name} left the conversation"
    if event.kind == "invalid_action":
        return f"{name} did nothing"
    return None


def render_transcript(
    record: EpisodeRecord,
    names: Mapping[str, str] | None = None,
    *,
    describe: Describe = default_describe,
    sources: tuple[str, ...] | None = None,
) -> str:
    """One line per turn event (optionally only from ``sources``), agents shown by ``names``."""
    names = names or {}
    lines = []
    for event in record.events:
        if event.kind not in TURN_KINDS or (sources is not None and event.source not in sources):
            continue
        line = describe(names.get(event.source, event.source), event)
        if line is not None:
            lines.append(line)
    return "\n".join(lines)


def agent_turns(record: EpisodeRecord, agent: str, kinds: tuple[str, ...] = TEXT_KINDS) -> list[str]:
    """The visible texts of ``agent``'s turns (speech and actions), in order."""
    return [e.text for e in record.events if e.source == agent and e.kind in kinds and e.text]


def last_turn(record: EpisodeRecord, agent: str) -> Event | None:
    """The agent's last turn event (message, action or invalid action)."""
    for event in reversed(record.events):
        if event.source == agent and event.kind in ("message", "action", "invalid_action", "leave"):
            return event
    return None
