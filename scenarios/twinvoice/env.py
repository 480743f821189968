"""``soul/twinvoice-v0``: persona simulation, pick the reply a person would write (docs/tasks.md#twinvoice).

One role, one turn: the persona reads a person's past posts (a bullet list), a new post and four
candidate replies, reasons inside ``<reasoning>`` tags and answers with the letter of the reply that
person wrote, in ``<answer>`` tags. An answer that names no single letter is invalid and scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.extraction import extract_answer
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.twinvoice.judge import twinvoice_judge
from scenarios.twinvoice.prompts import question_prompt
from scenarios.twinvoice.schema import N_CHOICES, TwinVoiceRow


class TwinVoiceEnv(TextEnv):
    env_id: ClassVar[str] = "soul/twinvoice-v0"
    roles: ClassVar[tuple[str, ...]] = ("persona",)
    row_model = TwinVoiceRow
    default_max_turns: ClassVar[int] = 1

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return ""

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", question_prompt(self.row))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        extraction = extract_answer(text, N_CHOICES)
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
        return twinvoice_judge()


env, raw_env, parallel_env = env_factories(TwinVoiceEnv)
