"""``soul/social-r1-v0``: social reasoning on adversarial MCQs, one answer (docs/tasks.md#social-r1).

One role, one turn: the answerer reads the pre-rendered story, question and options (unchanged data
text) and answers with one letter in the last ``<answer>`` tag. Anything else is invalid and scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.extraction import extract_answer
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.social_r1.judge import social_r1_judge
from scenarios.social_r1.prompts import SYSTEM
from scenarios.social_r1.schema import DATA_SOURCE, DATA_SOURCES, SocialR1Row


class SocialR1Env(TextEnv):
    env_id: ClassVar[str] = "soul/social-r1-v0"
    roles: ClassVar[tuple[str, ...]] = ("answerer",)
    row_model = SocialR1Row
    data_source: ClassVar[str] = DATA_SOURCE
    data_source_aliases: ClassVar[tuple[str, ...]] = DATA_SOURCES[1:]
    default_max_turns: ClassVar[int] = 1

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return SYSTEM

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", self.row.prompt_text)]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        extraction = extract_answer(text, len(self.row.options))
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
        return social_r1_judge()


env, raw_env, parallel_env = env_factories(SocialR1Env)
