"""``soul/alignx-v0``: which of two replies this user prefers, one A/B answer (docs/tasks.md#alignx).

One role, one turn: the user simulator reads what is known about a user and a post with two replies,
and names the one the user preferred in the last ``<answer>`` tag. The chosen reply's position is
fixed per scenario id (the same for every seed and model); option ``order="A"|"B"`` forces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.extraction import extract_answer
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.alignx.judge import alignx_judge, chosen_letter
from scenarios.alignx.prompts import SYSTEM, question_prompt
from scenarios.alignx.schema import DATA_SOURCE, DATA_SOURCES, AlignXRow


class AlignXEnv(TextEnv):
    env_id: ClassVar[str] = "soul/alignx-v0"
    roles: ClassVar[tuple[str, ...]] = ("user",)
    row_model = AlignXRow
    data_source: ClassVar[str] = DATA_SOURCE
    data_source_aliases: ClassVar[tuple[str, ...]] = DATA_SOURCES[1:]
    default_max_turns: ClassVar[int] = 1

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {"order": None}  # None: from the scenario id; "A"/"B": chosen shown there
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"{self.env_id} got unknown options {sorted(unknown)}; known: {sorted(defaults)}")
        merged = {**defaults, **options}
        if merged["order"] not in (None, "A", "B"):
            raise ValueError(f"order must be None, 'A' or 'B', got {merged['order']!r}")
        return merged

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return SYSTEM

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        row = self.row
        if chosen_letter(self.scenario.scenario_id, self.options["order"]) == "A":
            return [("user", question_prompt(row, row.chosen, row.rejected))]
        return [("user", question_prompt(row, row.rejected, row.chosen))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        extraction = extract_answer(text, 2)
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
        return alignx_judge()


env, raw_env, parallel_env = env_factories(AlignXEnv)
