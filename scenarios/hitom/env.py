"""``soul/hitom-v0``: higher-order theory of mind, one multiple-choice answer (docs/tasks.md#hitom).

One role, one turn: the answerer reads a story and a question about nested beliefs and answers with
a letter in ``<answer>`` tags. An answer that names no single letter is invalid and scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.extraction import extract_answer
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.hitom.judge import hitom_judge
from scenarios.hitom.prompts import question_prompt
from scenarios.hitom.schema import HiToMRow


class HiToMEnv(TextEnv):
    env_id: ClassVar[str] = "soul/hitom-v0"
    roles: ClassVar[tuple[str, ...]] = ("answerer",)
    row_model = HiToMRow
    default_max_turns: ClassVar[int] = 1

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return ""

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", question_prompt(self.row))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        extraction = extract_answer(text, len(self.row.choices))
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
        return hitom_judge()


env, raw_env, parallel_env = env_factories(HiToMEnv)
