"""Scheduling strategies, on their own and inside a small multi-party env built on ``TextEnv``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from osim_env.env import Emit, Invalid, TextEnv
from osim_env.events import Event, EventLog
from osim_env.scheduling import Alternation, DirectorChoice, ScheduledEvent, ScriptedOrder
from osim_env.test import run_all


def test_alternation_skips_absent_agents():
    s = Alternation(("a", "b", "c"))
    rng = np.random.default_rng(0)
    assert s.first(["b", "c"]) == "b"
    assert s.next(EventLog(), "a", ["a", "c"], rng) == "c"
    assert s.next(EventLog(), "c", ["a", "c"], rng) == "a"
    assert s.next(EventLog(), "a", [], rng) is None


def test_scripted_order_ends_with_its_script():
    s = ScriptedOrder(["assistant", "user", "assistant", "user"])
    rng = np.random.default_rng(0)
    present = ["user", "assistant"]
    seen = [s.first(present)]
    while (nxt := s.next(EventLog(), seen[-1], present, rng)) is not None:
        seen.append(nxt)
    assert seen == ["assistant", "user", "assistant", "user"]


def test_director_choice_follows_valid_choices_and_falls_back_with_rng():
    notices: list[tuple[str, str]] = []
    s = DirectorChoice(
        "director", ("ann", "ben", "env"), "ann", on_fallback=lambda c, r: notices.append((c, r))
    )
    rng = np.random.default_rng(0)
    log = EventLog()
    present = ["ann", "ben", "env", "director"]
    assert s.first(present) == "ann"
    log.append("message", "ann", {"text": "hi"}, turn=0)
    assert s.next(log, "ann", present, rng) == "director"
    log.append("action", "director", {"next_speaker": "ben"}, turn=1)
    assert s.next(log, "director", present, rng) == "ben"
    log.append("message", "ben", {"text": "yo"}, turn=2)
    log.append("action", "director", {"next_speaker": "ben"}, turn=3)  # the current speaker again
    chosen = s.next(log, "director", present, rng)
    assert chosen in ("ann", "env") and notices[-1] == (chosen, "next speaker 'ben' is the current speaker")
    log.append("action", "director", {"next_speaker": "zed"}, turn=4)
    s.next(log, "director", present, rng)
    assert notices[-1][1] == "unknown next speaker 'zed'"


class RoomRow(BaseModel):
    topic: str


class RoomEnv(TextEnv):
    """Three people; Cleo joins at turn 2 and Abe leaves at turn 4 (scheduled events)."""

    env_id: ClassVar[str] = "test/room-v0"
    roles: ClassVar[tuple[str, ...]] = ("abe", "bea", "cleo")
    row_model = RoomRow
    default_max_turns: ClassVar[int] = 8
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "is_parallelizable": False}

    def __init__(self, **kw: Any):
        kw.setdefault("scenario", {"topic": "the harbour gig"})
        super().__init__(**kw)

    def make_scheduler(self):
        return Alternation(self.roles)

    def scheduled_events(self):
        return [
            ScheduledEvent(0, "leave", "cleo", {"text": "cleo is not here yet"}),
            ScheduledEvent(2, "join", "cleo", {"text": "cleo arrives"}),
            ScheduledEvent(4, "leave", "abe", {"text": "abe leaves"}),
        ]

    def system_prompt(self, agent: str) -> str:
        return f"You are {agent}. Topic: {self.row.topic}."

    @property
    def row(self) -> RoomRow:
        return self.scenario.row  # type: ignore[return-value,union-attr]

    def render_event(self, agent: str, event: Event):
        if event.kind in ("join", "leave"):
            return "user", f"({event.text})"
        if event.kind == "message":
            return ("assistant" if event.source == agent else "user"), f"{event.source}: {event.text}"
        return None

    def parse_action(self, agent: str, text: str, thinking: str):
        if not text.strip():
            return Invalid("empty message")
        return [Emit("message", {"text": text.strip()})]


def test_scheduled_join_and_leave_change_who_acts_and_who_sees():
    env = RoomEnv(judge=False)
    env.reset(seed=0)
    order = []
    for i in range(6):
        order.append(env.agent_selection)
        env.step(f"line {i}")
    assert order == ["abe", "bea", "cleo", "abe", "bea", "cleo"]
    said = {e.text: e for e in env.log if e.kind == "message"}
    assert said["line 0"].visibility == ("abe", "bea")  # cleo absent
    assert said["line 2"].visibility is None  # everyone present
    assert said["line 4"].visibility == ("bea", "cleo")  # abe gone
    cleo_view = " ".join(m["content"] for m in env.observe("cleo")["messages"])
    assert "line 0" not in cleo_view and "line 2" in cleo_view and "cleo arrives" in cleo_view
    abe_view = " ".join(m["content"] for m in env.observe("abe")["messages"])
    assert "line 4" not in abe_view


def test_multi_party_env_passes_the_conformance_suite():
    ran = run_all(lambda **kw: RoomEnv(**{"judge": False, **kw}), fuzz_examples=200)
    assert "replay_render_test" in ran and "fuzz_actions_test" in ran
    assert "pettingzoo.parallel_api_test" not in ran  # not every agent acts in every round
