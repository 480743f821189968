"""``soul/socsci210-v0``: predict one survey participant's answer (docs/tasks.md#socsci210).

One role, one turn: the respondent reads a participant's demographics, the experimental stimulus and
the outcome question (pre-rendered in the row), and answers with a point of the question's scale in
``<answer>`` tags. An answer off the scale is invalid, never moved onto it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.soul_index import DATA_SOURCES
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.socsci210.judge import extract_prediction, socsci210_judge
from scenarios.socsci210.prompts import SYSTEM_PROMPT, question_prompt
from scenarios.socsci210.schema import DATA_SOURCE, SocSci210Row


class SocSci210Env(TextEnv):
    env_id: ClassVar[str] = "soul/socsci210-v0"
    roles: ClassVar[tuple[str, ...]] = ("respondent",)
    row_model = SocSci210Row
    default_max_turns: ClassVar[int] = 1
    data_source: ClassVar[str] = DATA_SOURCE
    data_source_aliases: ClassVar[tuple[str, ...]] = DATA_SOURCES[DATA_SOURCE]

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {"rewrite_prompt": True}
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"{self.env_id} got unknown options {sorted(unknown)}; known: {sorted(defaults)}")
        merged = {**defaults, **options}
        if not isinstance(merged["rewrite_prompt"], bool):
            raise ValueError(f"rewrite_prompt must be True or False, got {merged['rewrite_prompt']!r}")
        return merged

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return SYSTEM_PROMPT

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", question_prompt(self.row, self.options["rewrite_prompt"]))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        prediction = extract_prediction(text, self.row)
        if prediction.value is None:
            return Invalid(str(prediction.reason))
        return [Emit("message", {"text": text, "answer": prediction.value})]

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        if event.source == agent and event.kind in ("message", "invalid_action"):
            return "assistant", str(event.payload.get("raw", event.text))
        return None

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        return "answered" if emitted[-1].kind == "message" else "invalid answer"

    def default_judge(self) -> Any:
        return socsci210_judge()


env, raw_env, parallel_env = env_factories(SocSci210Env)
