"""``soul/fantom-v0``: theory of mind in multi-party conversations with information asymmetry
(docs/tasks.md#fantom).

One role, one turn: the answerer reads a conversation in which people join and leave, and answers
one question inside ``<answer>`` tags. The question type decides what the tag must hold: a letter
(multiple choice, which also accepts a final line that is only a letter), names (list), yes/no
(binary) or a short text (fact). An answer without a tag is invalid and scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.extraction import extract_answer
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.fantom.judge import fantom_judge
from scenarios.fantom.prompts import question_prompt
from scenarios.fantom.schema import FanToMRow


class FanToMEnv(TextEnv):
    env_id: ClassVar[str] = "soul/fantom-v0"
    roles: ClassVar[tuple[str, ...]] = ("answerer",)
    row_model = FanToMRow
    default_max_turns: ClassVar[int] = 1

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return ""

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", question_prompt(self.row))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        n_options = len(self.row.options) if self.row.family == "multiple_choice" else None
        extraction = extract_answer(text, n_options)
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
        return fantom_judge()


env, raw_env, parallel_env = env_factories(FanToMEnv)
