"""``soul/tau-user-v0``: the policy plays the customer of a tau-bench / tau2 customer-service task, talking
to a tool-using service agent (docs/tasks.md#tau-user).

The env owns the domain database and runs the agent's tools in-process, so no service is needed. The agent
opens with a fixed greeting; then the user and the agent alternate. On its turn the agent either writes to
the user or makes ``<tool_call>{...}</tool_call>`` calls, whose results only it sees, and acts again (at
most ``max_tool_rounds`` times a turn). The episode ends when the user writes a stop marker (then, with
``survey=True``, after the user's post-task survey), after ``max_user_turns`` user turns, after three
invalid actions in a row of one side, or as ``failed`` when the agent's policy call fails (the runner and
``AutoPlay`` abort the episode; nothing is added to the conversation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event, EventLog
from osim_env.factories import env_factories
from osim_env.json_text import InvalidJSON, decode_json
from osim_env.scheduling import Scheduler
from policies.oracle import oracle_prompt
from scenarios.tau_user import prompts
from scenarios.tau_user.catalog import load_domain
from scenarios.tau_user.domain import Domain, ToolBox
from scenarios.tau_user.judge import default_judge, reward_weights
from scenarios.tau_user.prompts import STOP_REASONS
from scenarios.tau_user.schema import TauUserRow

AGENT_MODES = ("llm", "oracle")
DEFAULT_AGENT_MODEL = "tiny"
MAX_INVALID_IN_A_ROW = 3
TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


class JSONData(spaces.Space[Any]):
    """Any JSON-serializable value (the agent's tool schemas, the oracle's plan)."""

    def __init__(self) -> None:
        super().__init__(dtype=object)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> list[Any]:
        return []

    def contains(self, x: Any) -> bool:
        try:
            json.dumps(x)
        except (TypeError, ValueError):
            return False
        return True


class TauTurns(Scheduler):
    """The agent keeps the turn while it calls tools (or its action was invalid); a message passes the
    turn to the other side; the user keeps the turn after an invalid action and for the survey."""

    uses_rng = False

    def __init__(self, survey: bool) -> None:
        self.survey = survey

    def first(self, present: Sequence[str]) -> str | None:
        return "user"

    def next(
        self, log: EventLog, current: str, present: Sequence[str], rng: np.random.Generator
    ) -> str | None:
        last = log[-1]
        if current == "agent":
            return "user" if last.kind == "message" else "agent"
        if last.kind == "message" and not (self.survey and "stop" in last.payload):
            return "agent"
        return "user"


def parse_tool_call(block: str) -> tuple[str, dict[str, Any]] | str:
    """(name, arguments) of one ``<tool_call>`` block, or why it is malformed. Arguments may be an object
    or a JSON string of one (as OpenAI's native tool calls give them)."""
    try:
        call = decode_json(block)
    except InvalidJSON as exc:
        return f"not JSON ({exc.reason})"
    if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
        return 'needs {"name": str, "arguments": {...}}'
    arguments = call.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = decode_json(arguments) if arguments.strip() else {}
        except InvalidJSON:
            return "arguments are not a JSON object"
    if not isinstance(arguments, dict):
        return "arguments must be a JSON object"
    return call["name"], arguments


def parse_survey(text: str) -> dict[str, Any] | None:
    """The survey answers as a dict of the known fields, or None when the text holds no JSON object."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        answers = decode_json(text[start : end + 1])
    except InvalidJSON:
        return None
    if not isinstance(answers, dict):
        return None
    known = {k: v for k, v in answers.items() if k in prompts.SURVEY_FIELDS}
    return known or None


class TauUserEnv(TextEnv):
    env_id: ClassVar[str] = "soul/tau-user-v0"
    roles: ClassVar[tuple[str, ...]] = ("user", "agent")
    row_model = TauUserRow
    # Limits are counted in user turns and tool rounds; this only bounds a pathological episode.
    default_max_turns: ClassVar[int] = 1000
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "is_parallelizable": False}

    def __init__(self, scenario: Any = None, **kwargs: Any) -> None:
        super().__init__(scenario, **kwargs)
        base = self._observation_spaces["agent"]
        self._observation_spaces["agent"] = spaces.Dict({**base.spaces, "tools": JSONData()})

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "agent": "llm",  # "llm": partner_model plays it; "oracle": its turn prompt holds the gold plan
            "max_user_turns": 30,
            "max_tool_rounds": 16,
            "survey": False,  # the user answers a post-task survey before the episode ends
            "reward": "auto",  # "auto", "task", "human_likeness" or a weight dict over those two
            "penalize_flags": False,  # detector flags lower the reward (training); never in evaluation
            "partner_model": None,  # policy spec of the agent (None: the local "tiny" model)
            "judge_model": None,  # policy spec of the NL_ASSERTION judge (None: the local "tiny" model)
        }
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"{self.env_id} got unknown options {sorted(unknown)}; known: {sorted(defaults)}")
        merged = {**defaults, **options}
        if merged["agent"] not in AGENT_MODES:
            raise ValueError(f"agent must be one of {AGENT_MODES}, got {merged['agent']!r}")
        for name in ("max_user_turns", "max_tool_rounds"):
            value = merged[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(merged["survey"], bool):
            raise ValueError(f"survey must be true or false, got {merged['survey']!r}")
        reward_weights(merged["reward"])  # raises on an unknown reward
        return merged

    @property
    def domain(self) -> Domain:
        return load_domain(self.row.domain)

    def policy_agents(self) -> tuple[str, ...]:
        return ("user",)

    def default_policies(self) -> dict[str, Any]:
        if self.options["agent"] == "oracle":
            return {"agent": "oracle"}
        return {"agent": self.options["partner_model"] or DEFAULT_AGENT_MODEL}

    def _on_reset(self) -> None:
        self._toolbox: ToolBox | None = None  # a fresh database copy, made at the first tool call
        self._tool_rounds = 0  # agent actions with tool calls since the agent's last message
        self._invalid_in_a_row = {"user": 0, "agent": 0}
        self._user_turns = 0
        self._stop_reason: str | None = None

    def make_scheduler(self) -> Scheduler:
        return TauTurns(self.options["survey"])

    def initial_events(self) -> Sequence[tuple[str, Emit]]:
        return [("agent", Emit("message", {"text": prompts.GREETING, "greeting": True}))]

    def system_prompt(self, agent: str) -> str:
        if agent == "user":
            return prompts.user_system_prompt(self.row.task().persona, self.row.user_instructions())
        return prompts.agent_system_prompt(self.domain.policy, self.domain.tool_schemas)

    def observe(self, agent: str) -> dict[str, Any]:
        observation = super().observe(agent)
        if agent == "agent":
            observation["tools"] = [dict(t) for t in self.domain.tool_schemas]
        return observation

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        own = "assistant" if event.source == agent else "user"
        if event.kind == "message":
            return own, event.text
        if event.kind == "tool_call":
            return "assistant", prompts.tool_call_text(event.payload["name"], event.payload["arguments"])
        if event.kind == "tool_result":
            return "user", prompts.tool_result_text(event.payload["name"], event.text)
        if event.kind == "system_notice":
            return "user", event.text
        if event.kind == "invalid_action" and event.source == agent:
            return "assistant", str(event.payload.get("raw"))
        if event.kind == "action" and event.source == agent:  # the user's survey answer
            return "assistant", event.text
        return None

    def turn_prompt(self, agent: str) -> str | None:
        if agent == "user" and self._stop_reason is not None:
            return prompts.survey_prompt()
        if agent == "agent" and self.options["agent"] == "oracle":  # the plan of policies.oracle
            task = self.row.task()
            return oracle_prompt(
                [{"name": a.name, "arguments": a.arguments} for a in task.actions], task.communicate_info
            )
        return None

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        if agent == "agent":
            return self._parse_agent(text)
        if self._stop_reason is not None:
            return [Emit("action", {"text": text, "survey": parse_survey(text)}, ("user",))]
        message = text.strip()
        if not message:
            return Invalid("empty message")
        payload: dict[str, Any] = {"text": message}
        stop = next((marker for marker in STOP_REASONS if marker in message), None)
        if stop is not None:
            payload["stop"] = stop
        return [Emit("message", payload)]

    def _parse_agent(self, text: str) -> Parsed:
        blocks = TOOL_CALL.findall(text)
        if text.count("<tool_call>") != len(blocks) or text.count("</tool_call>") != len(blocks):
            return Invalid("unbalanced <tool_call> tags")
        if not blocks:
            if not text.strip():
                return Invalid("empty message")
            self._tool_rounds = 0
            return [Emit("message", {"text": text.strip()})]
        calls = []
        for i, block in enumerate(blocks, start=1):
            parsed = parse_tool_call(block)
            if isinstance(parsed, str):
                return Invalid(f"tool call {i}: {parsed}")
            calls.append(parsed)
        if self._tool_rounds >= self.options["max_tool_rounds"]:
            return Invalid("tool limit reached for this turn: write a message to the customer")
        if self._toolbox is None:
            self._toolbox = self.domain.new_toolbox()
        emits = []
        only_agent = ("agent",)
        outside = TOOL_CALL.sub("", text).strip()
        for i, (name, arguments) in enumerate(calls):
            result, error = self._toolbox.call(name, arguments)
            call: dict[str, Any] = {"name": name, "arguments": arguments}
            if i == 0 and outside:
                call["content"] = outside  # kept, never shown to the user
            emits.append(Emit("tool_call", call, only_agent))
            emits.append(Emit("tool_result", {"name": name, "text": result, "error": error}, only_agent))
        self._tool_rounds += 1
        if self._tool_rounds >= self.options["max_tool_rounds"]:
            notice = prompts.TOOL_LIMIT_NOTICE.format(n=self._tool_rounds)
            emits.append(Emit("system_notice", {"text": notice}, only_agent))
        return emits

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        last = emitted[-1]
        if last.kind == "invalid_action":
            if agent == "user" and self._stop_reason is not None:
                return self._stop_reason  # an unusable survey answer: the survey is missing
            self._invalid_in_a_row[agent] += 1
            if self._invalid_in_a_row[agent] >= MAX_INVALID_IN_A_ROW:
                return f"{MAX_INVALID_IN_A_ROW} invalid {agent} actions in a row"
            return None
        self._invalid_in_a_row[agent] = 0
        if agent == "user":
            if last.kind == "action":  # the survey answer
                return self._stop_reason
            self._user_turns += 1
            stop = last.payload.get("stop")
            if stop is None:
                return None
            if self.options["survey"]:
                self._stop_reason = STOP_REASONS[stop]
                return None
            return STOP_REASONS[stop]
        if last.kind == "message" and self._user_turns >= self.options["max_user_turns"]:
            return f"max_user_turns ({self.options['max_user_turns']}) reached"
        return None

    def default_judge(self) -> Any:
        return default_judge(
            self.options["judge_model"],
            reward=self.options["reward"],
            penalize_flags=self.options["penalize_flags"],
        )


env, raw_env, parallel_env = env_factories(TauUserEnv)
