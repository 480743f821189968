"""Typed events: the episode's state is the append-only list of these.

Observations are renderings of this list, so everything an agent can ever see (and everything a
judge or a replay needs) must be an event. Each event names who produced it (``source``), who may
see it (``visibility``; ``None`` is everyone present) and what happened (``payload``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter

EventKind = Literal[
    "message",  # speech
    "action",  # non-verbal communication or a physical action
    "narration",  # an environment / narrator line
    "join",
    "leave",
    "tool_call",
    "tool_result",
    "system_notice",  # the env telling agents something (fallbacks, limits)
    "invalid_action",  # an action string the env could not parse, with a reason
    "feedback",  # privileged verbal feedback (training only)
    "end",
]
EVENT_KINDS: tuple[str, ...] = EventKind.__args__  # type: ignore[attr-defined]

ENV_SOURCE = "env"  # the source of events the env itself produces (feedback, the end marker)


@dataclass(slots=True)
class Event:
    """One thing that happened in an episode.

    ``visibility`` is the explicit set of agents that may see the event, fixed when it is appended
    (``None`` means every agent), so re-rendering a stored log never depends on later state.

    Events are made by ``EventLog.append`` (which checks the kind) and never changed afterwards;
    data from outside (the store, JSON) is validated by ``Event.validate``. The dataclass is not
    ``frozen``: that would only stop attribute assignment (the payload dict stays mutable), and
    a frozen dataclass's ``__init__`` made every env step about 10% slower
    (``benchmarks/env_overhead.py``: ratio 0.34 frozen, 0.38 not).
    """

    __pydantic_config__ = ConfigDict(extra="forbid")  # how Event.validate checks outside data

    index: Annotated[int, Field(ge=0)]  # position in the log
    turn: Annotated[int, Field(ge=0)]  # number of agent actions taken before this event
    kind: EventKind
    source: str
    visibility: tuple[str, ...] | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def visible_to(self, agent: str) -> bool:
        return self.visibility is None or agent in self.visibility

    @property
    def text(self) -> str:
        """The event's main text (``payload["text"]``), or ``""``."""
        return str(self.payload.get("text", ""))

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data (visibility as a list)."""
        return _EVENT.dump_python(self, mode="json")

    @staticmethod
    def validate(data: Any) -> Event:
        """An event from untrusted data (a dict or JSON text), checked field by field."""
        if isinstance(data, (str, bytes)):
            return _EVENT.validate_json(data)
        return _EVENT.validate_python(data)


_EVENT = TypeAdapter(Event)


class EventLog(Sequence[Event]):
    """Append-only event list with per-agent visibility queries.

    Events are created here (never by callers) so indices are dense and ordered.
    """

    __slots__ = ("_events",)

    def __init__(self, events: Sequence[Event] = ()) -> None:
        self._events: list[Event] = []
        for i, event in enumerate(events):
            if event.index != i:
                raise ValueError(f"event {i} has index {event.index}; a log must be dense and ordered")
            self._events.append(event)

    def append(
        self,
        kind: EventKind,
        source: str,
        payload: dict[str, Any] | None = None,
        *,
        turn: int,
        visibility: Sequence[str] | None = None,
    ) -> Event:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; expected one of {EVENT_KINDS}")
        visibility = None if visibility is None else tuple(visibility)
        # (index, turn, kind, source, visibility, payload)
        event = Event(len(self._events), turn, kind, source, visibility, {} if payload is None else payload)
        self._events.append(event)
        return event

    def __getitem__(self, i):  # type: ignore[override]
        return self._events[i]

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def visible(self, agent: str, start: int = 0) -> Iterator[Event]:
        for event in self._events[start:]:
            if event.visibility is None or agent in event.visibility:
                yield event

    def last(self, kind: str | None = None, source: str | None = None) -> Event | None:
        for event in reversed(self._events):
            if (kind is None or event.kind == kind) and (source is None or event.source == source):
                return event
        return None

    def to_dicts(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self._events]

    @classmethod
    def from_dicts(cls, rows: Sequence[dict[str, Any]]) -> EventLog:
        return cls([Event.validate(r) for r in rows])
