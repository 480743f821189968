"""``soul/humanllm-v0``: rank the items a shopper buys next (docs/tasks.md#humanllm).

One role, one turn: the user reads a shopper's description, purchase history and twenty candidate items
(relabelled A..T) and answers with the five most likely next purchases, most likely first, in
``<answer>`` tags. A malformed ranking is invalid, never repaired.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from judges.soul_index import DATA_SOURCES
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.humanllm.judge import extract_ranking, humanllm_judge
from scenarios.humanllm.prompts import question_prompt, system_prompt
from scenarios.humanllm.schema import DATA_SOURCE, HumanLLMRow


class HumanLLMEnv(TextEnv):
    env_id: ClassVar[str] = "soul/humanllm-v0"
    roles: ClassVar[tuple[str, ...]] = ("user",)
    row_model = HumanLLMRow
    default_max_turns: ClassVar[int] = 1
    data_source: ClassVar[str] = DATA_SOURCE
    data_source_aliases: ClassVar[tuple[str, ...]] = DATA_SOURCES[DATA_SOURCE]

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return system_prompt(self.row)

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", question_prompt(self.row))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        ranking = extract_ranking(text, self.row)
        if ranking.letters is None:
            return Invalid(str(ranking.reason))
        return [Emit("message", {"text": text, "ranking": list(ranking.letters)})]

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        if event.source == agent and event.kind in ("message", "invalid_action"):
            return "assistant", str(event.payload.get("raw", event.text))
        return None

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        return "answered" if emitted[-1].kind == "message" else "invalid answer"

    def default_judge(self) -> Any:
        return humanllm_judge()


env, raw_env, parallel_env = env_factories(HumanLLMEnv)
