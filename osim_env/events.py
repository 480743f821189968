"""Typed events: the episode's state is the append-only list of these.

Observations are renderings of this list, so everything an agent can ever see (and everything a
judge or a replay needs) must be an event. Each event names who produced it (``source``), who may
see it (``visibility``; ``None`` is everyone present) and what happened (``payload``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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

ENV_SOURCE = "env"


class Event(BaseModel):
    """One thing that happened in an episode.

    ``visibility`` is the explicit set of agents that may see the event, fixed when it is appended
    (``None`` means every agent), so re-rendering a stored log never depends on later state.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0, description="position in the log")
    turn: int = Field(ge=0, description="number of agent actions taken before this event")
    kind: EventKind
    source: str
    visibility: tuple[str, ...] | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    def visible_to(self, agent: str) -> bool:
        return self.visibility is None or agent in self.visibility

    @property
    def text(self) -> str:
        """The event's main text (``payload["text"]``), or ``""``."""
        return str(self.payload.get("text", ""))


_KIND_SET = frozenset(EVENT_KINDS)
_FIELDS = frozenset(Event.model_fields)
_new = object.__new__
# pydantic's own slots (and the instance dict), set through their descriptors: what model_construct
# sets, minus its overhead (a descriptor's __set__ is also cheaper than object.__setattr__).
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class EventLog(Sequence[Event]):
    """Append-only event list with per-agent visibility queries.

    Events are created here (never by callers) so indices are dense and ordered.
    """

    __slots__ = ("_events", "_fields")

    def __init__(self, events: Sequence[Event] = ()) -> None:
        self._events: list[Event] = []
        # _fields[i] is _events[i].__dict__, the event's own (frozen) field dict: the env's hot loops
        # read fields from it, since an attribute read on a pydantic model goes through the model's
        # __getattr__ hook and costs several plain dict reads.
        self._fields: list[dict[str, Any]] = []
        if not events:  # every reset makes an empty log
            return
        for i, event in enumerate(events):
            if event.index != i:
                raise ValueError(f"event {i} has index {event.index}; a log must be dense and ordered")
            self._events.append(event)
            self._fields.append(event.__dict__)

    def append(
        self,
        kind: EventKind,
        source: str,
        payload: dict[str, Any] | None = None,
        *,
        turn: int,
        visibility: Sequence[str] | None = None,
    ) -> Event:
        if kind not in _KIND_SET:
            raise ValueError(f"unknown event kind {kind!r}; expected one of {EVENT_KINDS}")
        # Fields are checked above (or typed by construction), so build the frozen model without a
        # second validation pass: this is the env's hot path. tests/test_events.py checks that the
        # result equals a validated Event.
        events = self._events
        fields = {
            "index": len(events),
            "turn": turn,
            "kind": kind,
            "source": source,
            "visibility": None if visibility is None else tuple(visibility),
            "payload": payload if payload is not None else {},
        }
        event = _new(Event)
        _set_dict(event, fields)
        _set_fields_set(event, _FIELDS)
        _set_extra(event, None)
        _set_private(event, None)
        events.append(event)
        self._fields.append(fields)
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
        return [e.model_dump(mode="json") for e in self._events]

    @classmethod
    def from_dicts(cls, rows: Sequence[dict[str, Any]]) -> EventLog:
        return cls([Event.model_validate(r) for r in rows])
