"""``soul/userllm-v0``: simulate one user message from an intent and the conversation so far
(docs/tasks.md#userllm).

One role, one turn. The user reads its goal and, on later turns, the transcript with the rule to reply
only with ``<|endconversation|>`` when the goal is met. Its action is parsed once, here, into the message
every judge reads: text after the first end token is dropped, a leading ``User:`` label and any
assistant text it wrote are removed; nothing left is an invalid action (score 0). Earlier turns are
context from the row, not agents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.userllm import prompts
from scenarios.userllm.judge import default_judge, read_reply
from scenarios.userllm.schema import UserLLMRow


class UserLLMEnv(TextEnv):
    env_id: ClassVar[str] = "soul/userllm-v0"
    roles: ClassVar[tuple[str, ...]] = ("user",)
    row_model = UserLLMRow
    default_max_turns: ClassVar[int] = 1

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "judge_model": None,  # policy spec of the NQ and PRISM judges (None: the local "tiny" model)
        }
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(
                f"soul/userllm-v0 got unknown options {sorted(unknown)}; known: {sorted(defaults)}"
            )
        return {**defaults, **options}

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return prompts.system_prompt(self.row)

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", prompts.turn_message(self.row))]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        reply = read_reply(text)
        if not reply.message and not reply.ended:
            return Invalid("empty message")
        return [Emit("message", {"text": reply.message, "ended": reply.ended})]

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        if event.source == agent and event.kind in ("message", "invalid_action"):
            return "assistant", str(event.payload.get("raw", event.text))
        return None

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        last = emitted[-1]
        if last.kind != "message":
            return "invalid reply"
        return "ended the conversation" if last.payload["ended"] else "replied"

    def default_judge(self) -> Any:
        return default_judge(self.options["judge_model"])


env, raw_env, parallel_env = env_factories(UserLLMEnv)
