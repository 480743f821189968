"""``soul/lifechoices-v0``: a literary character's decision, one multiple-choice answer
(docs/tasks.md#lifechoices).

One role, one turn: the character reads its own biography as memory, a scenario and a question with
four options, and answers with a letter in ``<answer>`` tags. An answer that names no single letter
is invalid and scores 0. Option ``max_context_chars`` cuts the middle of an over-long biography
(never the instructions), the same way in drafts and refined rollouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.extraction import extract_answer
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.lifechoices.judge import lifechoices_judge
from scenarios.lifechoices.prompts import question_prompt, system_prompt
from scenarios.lifechoices.schema import N_OPTIONS, LifeChoicesRow


class LifeChoicesEnv(TextEnv):
    env_id: ClassVar[str] = "soul/lifechoices-v0"
    roles: ClassVar[tuple[str, ...]] = ("character",)
    row_model = LifeChoicesRow
    default_max_turns: ClassVar[int] = 1

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {"max_context_chars": None}  # None: the whole biography
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"{self.env_id} got unknown options {sorted(unknown)}; known: {sorted(defaults)}")
        merged = {**defaults, **options}
        limit = merged["max_context_chars"]
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"max_context_chars must be None or a positive integer, got {limit!r}")
        return merged

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return system_prompt(self.row)

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", question_prompt(self.row, self.options["max_context_chars"]))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        extraction = extract_answer(text, N_OPTIONS)
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
        return lifechoices_judge()


env, raw_env, parallel_env = env_factories(LifeChoicesEnv)
