"""``soul/mistakes-v0``: learner simulation, pick the option a student would (docs/tasks.md#mistakes).

One role, one turn: the student reads a maths question, its options and a misconception, and answers
with the letter that a student holding that misconception would choose, in ``<answer>`` tags. Empty
options are not shown and cannot be chosen; the others keep their letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.mistakes.judge import extract_option, mistakes_judge
from scenarios.mistakes.prompts import SYSTEM_PROMPT, question_prompt
from scenarios.mistakes.schema import MistakesRow


class MistakesEnv(TextEnv):
    env_id: ClassVar[str] = "soul/mistakes-v0"
    roles: ClassVar[tuple[str, ...]] = ("student",)
    row_model = MistakesRow
    default_max_turns: ClassVar[int] = 1

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return SYSTEM_PROMPT

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", question_prompt(self.row))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        extraction = extract_option(text, self.row)
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
        return mistakes_judge()


env, raw_env, parallel_env = env_factories(MistakesEnv)
