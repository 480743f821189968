"""``soul/behaviorchain-v0``: a persona's next behavior, one 4-way answer (docs/tasks.md#behaviorchain).

One role, one turn: the persona simulator reads the profile, the story so far, the chain of earlier
context→behavior steps and the current context, and picks the next behavior with one letter in the
last ``<answer>`` tag (thinking removed first, unlike the original which read tags inside it).
Option ``max_history_chars`` drops the oldest chapters, never the profile, the chain or the options.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.extraction import extract_answer
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.behaviorchain.judge import behaviorchain_judge
from scenarios.behaviorchain.prompts import question_prompt
from scenarios.behaviorchain.schema import DATA_SOURCE, DATA_SOURCES, BehaviorChainRow


class BehaviorChainEnv(TextEnv):
    env_id: ClassVar[str] = "soul/behaviorchain-v0"
    roles: ClassVar[tuple[str, ...]] = ("persona",)
    row_model = BehaviorChainRow
    data_source: ClassVar[str] = DATA_SOURCE
    data_source_aliases: ClassVar[tuple[str, ...]] = DATA_SOURCES[1:]
    default_max_turns: ClassVar[int] = 1

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {"max_history_chars": None}  # None: every chapter of the row
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"{self.env_id} got unknown options {sorted(unknown)}; known: {sorted(defaults)}")
        merged = {**defaults, **options}
        limit = merged["max_history_chars"]
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"max_history_chars must be None or a positive integer, got {limit!r}")
        return merged

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return ""

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", question_prompt(self.row, self.options["max_history_chars"]))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        extraction = extract_answer(text, 4)
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
        return behaviorchain_judge()


env, raw_env, parallel_env = env_factories(BehaviorChainEnv)
