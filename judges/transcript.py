"""What a judge reads from an episode: the conversation view of ``osim_env.transcript``, and the
texts of one agent's turns."""

from __future__ import annotations

from collections.abc import Mapping

from osim_env.episode import EpisodeRecord
from osim_env.events import Event
from osim_env.transcript import Describe, describe_turn, turn_lines

TEXT_KINDS = ("message", "action")


def render_transcript(
    record: EpisodeRecord,
    names: Mapping[str, str] | None = None,
    *,
    describe: Describe = describe_turn,
    sources: tuple[str, ...] | None = None,
) -> str:
    """The episode's conversation view (``osim_env.transcript.turn_lines``) as one string."""
    return "\n".join(turn_lines(record.events, names, describe=describe, sources=sources))


def agent_turns(record: EpisodeRecord, agent: str, kinds: tuple[str, ...] = TEXT_KINDS) -> list[str]:
    """The visible texts of ``agent``'s turns (speech and actions), in order."""
    return [e.text for e in record.events if e.source == agent and e.kind in kinds and e.text]


def last_turn(record: EpisodeRecord, agent: str) -> Event | None:
    """The agent's last turn event (message, action or invalid action)."""
    for event in reversed(record.events):
        if event.source == agent and event.kind in ("message", "action", "invalid_action", "leave"):
            return event
    return None
