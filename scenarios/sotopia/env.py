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
# The event kind of each action type (its keys are exactly ACTION_TYPES).
_EVENT_KIND = {
    "none": "action",
    "speak": "message",
    "non-verbal communication": "action",
    "action": "action",
    "leave": "leave",
}
_RENDERED_KINDS = frozenset(("message", "action", "leave", "invalid_action"))
_tuple_new = tuple.__new__
_DECODER = json.JSONDecoder()
# The decoder's C scanner, called directly: raw_decode is a Python wrapper around it (and the
# parse is a large part of a step).
_SCAN = _DECODER.scan_once
_ACTION_TYPE_SET = frozenset(ACTION_TYPES)
_ACTION_KEYS = frozenset(("action_type", "argument"))
_NEEDS_ARGUMENT = frozenset(("speak", "non-verbal communication", "action"))
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def find_json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object in ``text`` (fenced or bare) and, if one is present but broken, why.

    ``parse_action`` decodes a bare, well-formed object itself before it calls this search."""
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


def action_error(obj: dict[str, Any]) -> str:
    """Why a decoded action object is not a valid action (the checks in their order)."""
    action_type = obj.get("action_type")
    argument = obj.get("argument", "")
    if type(action_type) is not str or action_type not in _ACTION_TYPE_SET:
        return f"action_type must be one of {list(ACTION_TYPES)}, got {action_type!r}"
    if not isinstance(argument, str):
        return f"argument must be a string, got {type(argument).__name__}"
    if not obj.keys() <= _ACTION_KEYS:
        return f"unexpected keys {sorted(set(obj) - _ACTION_KEYS)}"
    return f"{action_type!r} needs a non-empty argument"


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
    _alternation: Alternation | None = None

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
        # Alternation keeps no per-episode state, so one instance serves every episode of this env.
        if self._alternation is None:
            self._alternation = Alternation(self.roles)
        return self._alternation

    def _on_reset(self) -> None:
        self._idle = 0
        self._turn_tails: dict[str, str] = {}
        row = self.row
        if row is not self._prompts_row:
            # Names and system prompts are pure functions of the row: built once per row, not once
            # per episode.
            self._prompts_row = row
            self._system_prompts: dict[str, str] = {}
            self._names = {role: row.name(role) for role in self.roles}

    def system_prompt(self, agent: str) -> str:
        text = self._system_prompts.get(agent)
        if text is None:
            text = self._system_prompts[agent] = prompts.system_prompt(self.row, agent)
        return text

    def turn_prompt(self, agent: str) -> str | None:
        # Everything after the turn number is fixed for the episode: formatted once per agent.
        tail = self._turn_tails.get(agent)
        if tail is None:
            instruction = prompts.turn_instruction(self.row, agent)
            tail = self._turn_tails[agent] = f" of at most {self.max_turns}. {instruction}"
        return f"Turn {self.turn + 1}{tail}"

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        # This runs on every step, so the common case is kept short: a well-formed JSON object is
        # decoded by the scanner directly (no search) and validated by one condition; the reasons
        # of invalid actions are worked out off this path (action_error).
        obj = None
        # Indexing, not slicing (text[:1] builds a slice object); `text and` guards "".
        if text and text[0] == "{" and text[-1] == "}":
            try:
                obj, end = _SCAN(text, 0)
            except (StopIteration, json.JSONDecodeError):  # raw_decode turns both into the latter
                obj = None
            else:
                if end != len(text) or type(obj) is not dict:
                    obj = None
        if obj is None:
            if not text.strip():
                return Invalid("empty action")
            obj, broken = find_json_object(text)
            if obj is None:
                if broken is not None or self.options["strict_json"]:
                    return Invalid(broken or "no JSON action object (strict_json)")
                payload = {"action_type": "speak", "text": text.strip(), "format_lenient": True}
                return [Emit("message", payload)]
        action_type = obj.get("action_type")
        argument = obj.get("argument", "")
        if (
            type(action_type) is str  # (JSON strings are exact str; a list would not hash)
            and action_type in _EVENT_KIND
            and type(argument) is str
            # "action_type" is a key, so the keys are a subset of _ACTION_KEYS exactly when there
            # is at most one more and it is "argument" (cheaper than a dict-view <= set test).
            and len(obj) <= 1 + ("argument" in obj)
        ):
            argument = argument.strip()
            if argument or action_type not in _NEEDS_ARGUMENT:
                payload = {"action_type": action_type, "text": argument}
                # Emit(kind, payload) without the named tuple's Python-level __new__ (same tuple).
                return [_tuple_new(Emit, (_EVENT_KIND[action_type], payload, None))]
        return Invalid(action_error(obj))

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        # Each field is read once: attribute reads on a pydantic model take its slow path (the class
        # has __getattr__), and this runs for every event and agent.
        kind = event.kind
        if kind not in _RENDERED_KINDS:
            return None
        payload, source = event.payload, event.source
        if source == agent:
            if kind == "invalid_action":
                return "user", f"(Your last action could not be used: {payload['reason']}.)"
            # encode_basestring is exactly json.dumps(text, ensure_ascii=False), without its overhead.
            argument = encode_basestring(payload["text"])
            return "assistant", f'{{"action_type": "{payload["action_type"]}", "argument": {argument}}}'
        name = self._names.get(source) or self.row.name(source)
        if kind == "invalid_action":
            return "user", f"{name} did nothing"
        return "user", prompts.describe(name, payload["action_type"], payload["text"])

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        last = emitted[-1]
        kind = last.kind
        if kind == "leave":
            return f"{agent} left"
        # A "none" action is an "action" event: other kinds need no look at the payload.
        if kind == "invalid_action" or (kind == "action" and last.payload.get("action_type") == "none"):
            self._idle += 1
            if self._idle >= MAX_IDLE:
                return f"{MAX_IDLE} consecutive none/invalid actions"
        else:
            self._idle = 0
        return None

    def default_judge(self) -> Any:
        from scenarios.sotopia.judge import default_judge

        model = self.options["judge_model"] or os.environ.get("OSIM_JUDGE_MODEL", "tiny")
        return default_judge(model, judge_both=self.options["judge_both"])

    @classmethod
    def data_source(cls) -> str:
        return DATA_SOURCE


env, raw_env, parallel_env = env_factories(SotopiaEnv)
