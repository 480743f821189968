"""``soul/tomi-v0``: false-belief location tracking on ParaToMi stories, one open answer
(docs/tasks.md#tomi).

One role, one turn: the answerer reads a story of people moving an object and a question about where
it is or where someone believes it is, and names one location in ``<answer>`` tags. An action without
an answer tag is invalid and scores 0; an answer that names several candidate locations is valid and
scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.extraction import extract_answer
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.tomi.judge import tomi_judge
from scenarios.tomi.prompts import question_prompt
from scenarios.tomi.schema import DATA_SOURCE, ToMiRow


class ToMiEnv(TextEnv):
    env_id: ClassVar[str] = "soul/tomi-v0"
    roles: ClassVar[tuple[str, ...]] = ("answerer",)
    row_model = ToMiRow
    data_source: ClassVar[str] = DATA_SOURCE
    default_max_turns: ClassVar[int] = 1

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return ""

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", question_prompt(self.row))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        extraction = extract_answer(text)
        if not extraction.valid:
            return Invalid(str(extraction.reason))
        return [Emit("message", {"text": text, "answer": extraction.answer})]

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        if event.source == agent and event.kind in ("message", "invalid_action"):
            return "assistant", str(event.payload.get("raw", event.text))
        return None

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        return "answered" if emitted[-1].kind == "message" else "invalid answer"

    def default_judge(self) -> Any:
        return tomi_judge()


env, raw_env, parallel_env = env_factories(ToMiEnv)
