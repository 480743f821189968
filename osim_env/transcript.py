"""Episodes as readable text: one renderer for the env's ``render``, ``osim replay show`` and judges.

Two views of one event log. ``log_lines`` is the bookkeeping view (every event with its index,
turn, kind, source and who may see it), for people debugging or reviewing an episode.
``turn_lines`` is the conversation view (one ``Name: text`` line per turn), for judges: it never
shows thinking (the env keeps it out of ``payload["text"]``), feedback or bookkeeping events.
Both are pure functions of the events, so the same episode always reads the same (and an LLM
judge's cache key, built from the conversation view, is stable).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from osim_env.events import Event

# Event kinds that are an agent's (or narrator's) turn in the conversation view.
TURN_KINDS = ("message", "action", "leave", "invalid_action", "narration")

Describe = Callable[[str, Event], "str | None"]


def seen_by(event: Event) -> str:
    """Who may see ``event``: ``all`` or the comma-separated agents."""
    return "all" if event.visibility is None else ",".join(event.visibility)


def event_body(event: Event) -> str:
    """The readable content of one event: its text, an action type, an invalid action's reason."""
    payload = event.payload
    if event.kind == "end":
        return str(payload.get("reason", ""))
    if event.kind == "invalid_action":
        return f"(invalid: {payload.get('reason')}) {payload.get('raw')!r}"
    body = event.text or json.dumps({k: v for k, v in payload.items() if k != "raw"}, ensure_ascii=False)
    action_type = payload.get("action_type")
    if action_type and action_type != "speak":
        body = f"[{action_type}] {body}"
    return body


def log_line(event: Event) -> str:
    """``[index turn] kind source -> who-sees body`` for one event."""
    return (
        f"[{event.index:03d} turn {event.turn:02d}] {event.kind:<14} {event.source:<10} "
        f"-> {seen_by(event):<16} {event_body(event)}"
    )


def log_lines(events: Iterable[Event]) -> list[str]:
    """The bookkeeping view: one ``log_line`` per event."""
    return [log_line(event) for event in events]


def describe_turn(name: str, event: Event) -> str | None:
    """``Name: text`` for speech, ``Name [action] text`` for actions, a note for leaving / invalid
    turns; ``None`` for events that are not turns."""
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


def turn_lines(
    events: Iterable[Event],
    names: Mapping[str, str] | None = None,
    *,
    describe: Describe = describe_turn,
    sources: tuple[str, ...] | None = None,
) -> list[str]:
    """The conversation view: one line per turn event (optionally only from ``sources``), agents
    shown by ``names``."""
    names = names or {}
    lines = []
    for event in events:
        if event.kind not in TURN_KINDS or (sources is not None and event.source not in sources):
            continue
        line = describe(names.get(event.source, event.source), event)
        if line is not None:
            lines.append(line)
    return lines
