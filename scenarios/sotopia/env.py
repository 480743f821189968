"""``soul/sotopia-v0``: two characters with private goals talk in a scenario (soul-tasks.md §4.1).

Strict alternation, ``agent1`` first, at most ``max_turns`` (20) actions in total. An agent sees its
own background and goal, never the other's. The episode ends when someone leaves, after four
consecutive ``none``/invalid actions, at ``max_turns`` (truncation) or when an auxiliary call fails.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, ClassVar

from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.sotopia import prompts
from scenarios.sotopia.schema import DATA_SOURCE, SotopiaRow

ACTION_TYPES = ("none", "speak", "non-verbal communication", "action", "leave")
MAX_IDLE = 4
_EVENT_KIND = {"speak": "message", "leave": "leave"}  # other action types are "action" events
_RENDERED_KINDS = frozenset(("message", "action", "leave", "invalid_action"))
_DECODER = json.JSONDecoder()
_ACTION_TYPE_SET = frozenset(ACTION_TYPES)
_ACTION_KEYS = frozenset(("action_type", "argument"))
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def find_json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object in ``text`` (fenced or bare) and, if one is present but broken, why."""
    if text.startswith("{") and text.endswith("}"):  # the common, well-formed case
        try:
            obj, end = _DECODER.raw_decode(text)
            if end == len(text) and isinstance(obj, dict):
                return obj, None
        except json.JSONDecodeError:
            pass
    candidates = [m.group(1).strip() for m in _FENCE.finditer(text)] + [text.strip()]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    broken = None
    for candidate in candidates:
        if not candidate.startswith("{"):
            continue
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError as exc:
            broken = f"malformed JSON action: {exc.msg}"
            continue
        if isinstance(obj, dict):
            return obj, None
    return None, broken


def parse_sotopia_action(text: str, *, strict_json: bool) -> tuple[str, str, bool] | str:
    """(action_type, argument, lenient) or an error reason."""
    obj = None
    if text[:1] == "{" and text[-1:] == "}":  # the common, well-formed case, without the search
        try:
            obj, end = _DECODER.raw_decode(text)
            if end != len(text) or type(obj) is not dict:
                obj = None
        except json.JSONDecodeError:
            obj = None
    if obj is None:
        if not text.strip():
            return "empty action"
        obj, broken = find_json_object(text)
        if obj is None:
            if broken is not None or strict_json:
                return broken or "no JSON action object (strict_json)"
            return "speak", text.strip(), True
    action_type = obj.get("action_type")
    argument = obj.get("argument", "")
    if type(action_type) is not str or action_type not in _ACTION_TYPE_SET:
        return f"action_type must be one of {list(ACTION_TYPES)}, got {action_type!r}"
    if not isinstance(argument, str):
        return f"argument must be a string, got {type(argument).__name__}"
    if not obj.keys() <= _ACTION_KEYS:
        return f"unexpected keys {sorted(set(obj) - _ACTION_KEYS)}"
    if action_type in ("speak", "non-verbal communication", "action") and not argument.strip():
        return f"{action_type!r} needs a non-empty argument"
    return action_type, argument.strip(), False


class SotopiaEnv(TextEnv):
    env_id: ClassVar[str] = "soul/sotopia-v0"
    roles: ClassVar[tuple[str, ...]] = ("agent1", "agent2")
    row_model = SotopiaRow
    task_package: ClassVar[str] = "scenarios.sotopia"
    default_max_turns: ClassVar[int] = 20
    invalid_visible_to_all: ClassVar[bool] = True
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "is_parallelizable": True,
        "name": "sotopia_v0",
    }

    _prompts_row: SotopiaRow | None = None
    _system_prompts: dict[str, str]

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "eval_position": None,  # None: the row's eval_position
            "self_play": False,
            "strict_json": False,
            "judge_both": False,
            "judge_model": None,  # policy spec of the LLM judge (None: $OSIM_JUDGE_MODEL or "tiny")
            "partner_model": None,  # policy spec of the partner (None: $OSIM_PARTNER_MODEL or "tiny")
        }
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(
                f"soul/sotopia-v0 got unknown options {sorted(unknown)}; known: {sorted(defaults)}"
            )
        merged = {**defaults, **options}
        if merged["eval_position"] not in (None, "agent1", "agent2"):
            raise ValueError(f"eval_position must be 'agent1' or 'agent2', got {merged['eval_position']!r}")
        return merged

    @property
    def row(self) -> SotopiaRow:
        assert self.scenario is not None, "reset() first"
        return self.scenario.row  # type: ignore[return-value]

    def policy_agents(self) -> tuple[str, ...]:
        if self.options["self_play"]:
            return self.roles
        position = self.options["eval_position"] or (self.row.eval_position if self.scenario else "agent1")
        return (position,)

    def default_policies(self) -> dict[str, Any]:
        partner = self.options["partner_model"] or os.environ.get("OSIM_PARTNER_MODEL", "tiny")
        return {role: partner for role in self.roles if role not in self.policy_agents()}

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def _on_reset(self) -> None:
        self._idle = 0
        self._instructions: dict[str, str] = {}
        self._names = {role: self.row.name(role) for role in self.roles}

    def system_prompt(self, agent: str) -> str:
        # A pure function of the row and the role: built once per row, not once per episode.
        row = self.row
        if self._prompts_row is not row:
            self._prompts_row, self._system_prompts = row, {}
        text = self._system_prompts.get(agent)
        if text is None:
            text = self._system_prompts[agent] = prompts.system_prompt(row, agent)
        return text

    def turn_prompt(self, agent: str) -> str | None:
        instruction = self._instructions.get(agent)
        if instruction is None:
            instruction = self._instructions[agent] = prompts.turn_instruction(self.row, agent)
        return f"Turn {self.turn + 1} of at most {self.max_turns}. {instruction}"

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        parsed = parse_sotopia_action(text, strict_json=self.options["strict_json"])
        if isinstance(parsed, str):
            return Invalid(parsed)
        action_type, argument, lenient = parsed
        payload: dict[str, Any] = {"action_type": action_type, "text": argument}
        if lenient:
            payload["format_lenient"] = True
        return [Emit(_EVENT_KIND.get(action_type, "action"), payload)]  # type: ignore[arg-type]

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        kind = event.kind
        if kind not in _RENDERED_KINDS:
            return None
        payload = event.payload
        if event.source == agent:
            if kind == "invalid_action":
                return "user", f"(Your last action could not be used: {payload['reason']}.)"
            # encode_basestring is exactly json.dumps(text, ensure_ascii=False), without its overhead.
            argument = encode_basestring(payload["text"])
            return "assistant", f'{{"action_type": "{payload["action_type"]}", "argument": {argument}}}'
        name = self._names.get(event.source) or self.row.name(event.source)
        if kind == "invalid_action":
            return "user", f"{name} did nothing"
        return "user", prompts.describe(name, payload["action_type"], payload["text"])

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        last = emitted[-1]
        if last.kind == "leave":
            return f"{agent} left"
        idle = last.kind == "invalid_action" or last.payload.get("action_type") == "none"
        self._idle = self._idle + 1 if idle else 0
        if self._idle >= MAX_IDLE:
            return f"{MAX_IDLE} consecutive none/invalid actions"
        return None

    def default_judge(self) -> Any:
        from scenarios.sotopia.judge import default_judge

        model = self.options["judge_model"] or os.environ.get("OSIM_JUDGE_MODEL", "tiny")
        return default_judge(model, judge_both=self.options["judge_both"])

    @classmethod
    def data_source(cls) -> str:
        return DATA_SOURCE


env, raw_env, parallel_env = env_factories(SotopiaEnv)
