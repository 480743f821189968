"""Who acts next, decided from the event log.

Each strategy is small and stateless beyond its configuration: given the log, the agent that just
acted and who is present, it names the next agent (or ``None`` when the schedule is exhausted, which
ends the episode). Scenario-scheduled events (someone joins or leaves at turn k) are data the env
applies before asking the scheduler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from osim_env.events import EventKind, EventLog


class Scheduler(ABC):
    """Picks the next agent. ``first`` is asked once per episode, ``next`` after every action.

    A strategy that never draws sets ``uses_rng = False`` and gets ``rng=None``: the env then need
    not build its Generator at all.
    """

    uses_rng: bool = True

    @abstractmethod
    def first(self, present: Sequence[str]) -> str | None: ...

    @abstractmethod
    def next(
        self, log: EventLog, current: str, present: Sequence[str], rng: np.random.Generator
    ) -> str | None: ...


@dataclass
class Alternation(Scheduler):
    """Round-robin over ``order``, skipping agents that are not present."""

    order: Sequence[str]
    uses_rng: bool = field(default=False, init=False, repr=False)
    _successor: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.order)
        self._successor = {a: self.order[(i + 1) % n] for i, a in enumerate(self.order)}

    def first(self, present: Sequence[str]) -> str | None:
        for agent in self.order:
            if agent in present:
                return agent
        return None

    def next(
        self, log: EventLog, current: str, present: Sequence[str], rng: np.random.Generator
    ) -> str | None:
        if len(present) == len(self.order):  # everyone present: the plain successor
            return self._successor[current]
        i = self.order.index(current)
        n = len(self.order)
        for k in range(1, n + 1):
            candidate = self.order[(i + k) % n]
            if candidate in present:
                return candidate
        return None


@dataclass
class ScriptedOrder(Scheduler):
    """A fixed sequence of turns (e.g. replayed assistant, then user, then assistant...).

    The position is the number of actions taken so far (the log's last event ``turn``), so the
    schedule survives replay. Absent agents' slots are skipped; the end of the script ends the
    episode.
    """

    sequence: Sequence[str]
    uses_rng: bool = field(default=False, init=False, repr=False)
    _position: int = field(default=0, init=False, repr=False)

    def first(self, present: Sequence[str]) -> str | None:
        self._position = 0
        return self._advance(present)

    def next(
        self, log: EventLog, current: str, present: Sequence[str], rng: np.random.Generator
    ) -> str | None:
        self._position += 1
        return self._advance(present)

    def _advance(self, present: Sequence[str]) -> str | None:
        while self._position < len(self.sequence):
            agent = self.sequence[self._position]
            if agent in present:
                return agent
            self._position += 1
        return None


@dataclass
class DirectorChoice(Scheduler):
    """A director role picks the next speaker after every speaker turn (CoSER).

    The scenario parses the director's action into ``payload["next_speaker"]``. A missing, unknown
    or repeated choice, or one the scenario refused (``payload["refused"]``: the reason, e.g. an end
    of the scene that comes too early), falls back to a uniform draw with the env's rng among the
    ``fallback`` speakers other than the current one (all other speakers when none is left, or when
    ``fallback`` is empty); the env records that as a ``system_notice`` through ``on_fallback``.
    """

    director: str
    speakers: Sequence[str]
    first_speaker: str
    on_fallback: Callable[[str, str], None] | None = None  # (chosen, reason)
    fallback: Sequence[str] = ()  # the pool of a fallback draw (empty: every speaker)

    def first(self, present: Sequence[str]) -> str | None:
        return self.first_speaker if self.first_speaker in present else self._others(None, present)[0]

    def next(
        self, log: EventLog, current: str, present: Sequence[str], rng: np.random.Generator
    ) -> str | None:
        if current != self.director:
            return self.director if self.director in present else self._draw(current, present, rng)
        last_speaker = next((e.source for e in reversed(log) if e.source in self.speakers), None)
        choice_event = log.last(source=self.director)
        payload = choice_event.payload if choice_event is not None else {}
        choice, refused = payload.get("next_speaker"), payload.get("refused")
        if not refused and choice in self.speakers and choice in present and choice != last_speaker:
            return choice
        reason = (
            str(refused)
            if refused
            else "no next speaker given"
            if choice is None
            else f"next speaker {choice!r} is the current speaker"
            if choice == last_speaker
            else f"unknown next speaker {choice!r}"
        )
        chosen = self._draw(last_speaker, present, rng)
        if self.on_fallback is not None and chosen is not None:
            self.on_fallback(chosen, reason)
        return chosen

    def _others(self, current: str | None, present: Sequence[str]) -> list[str]:
        others = [s for s in self.speakers if s in present and s != current]
        return others or [s for s in self.speakers if s in present]

    def _draw(self, current: str | None, present: Sequence[str], rng: np.random.Generator) -> str | None:
        preferred = [s for s in self.fallback if s in self.speakers and s in present and s != current]
        pool = preferred or self._others(current, present)
        return pool[int(rng.integers(len(pool)))] if pool else None


@dataclass(frozen=True)
class ScheduledEvent:
    """An event the scenario schedules before turn ``at_turn`` (e.g. ``join`` / ``leave``)."""

    at_turn: int
    kind: EventKind
    agent: str
    payload: dict[str, Any] = field(default_factory=dict)


def due(schedule: Sequence[ScheduledEvent], turn: int) -> list[ScheduledEvent]:
    return [s for s in schedule if s.at_turn == turn]
