"""``soul/sotopia-v0``: two characters with private goals talk in a scenario (docs/tasks.md#sotopia).

Strict alternation, ``agent1`` first, at most ``max_turns`` (20) actions in total. An agent sees its
own background and goal, never the other's. The episode ends when someone leaves, after four
consecutive ``none``/invalid actions, at ``max_turns`` (truncation) or when an auxiliary call fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.json_text import InvalidJSON, decode_json
from osim_env.scheduling import Alternation, Scheduler
from scenarios.sotopia import prompts
from scenarios.sotopia.judge import default_judge
from scenarios.sotopia.schema import SotopiaRow

ACTION_TYPES = ("none", "speak", "non-verbal communication", "action", "leave")
NEEDS_ARGUMENT = frozenset(("speak", "non-verbal communication", "action"))
ACTION_KEYS = frozenset(("action_type", "argument"))
# The event kind each action type becomes (its keys are exactly ACTION_TYPES).
EVENT_KIND = {
    "none": "action",
    "speak": "message",
    "non-verbal communication": "action",
    "action": "action",
    "leave": "leave",
}
MAX_IDLE = 4
DEFAULT_PARTNER_MODEL = "tiny"
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
# JSON text with non-ASCII characters kept as they are (how an agent's own actions read to it).
_JSON = json.JSONEncoder(ensure_ascii=False)


def find_json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON action object in ``text`` and, when the text was meant as JSON but does not decode,
    why.

    A bare object (the format the prompt asks for) is decoded as it is. Otherwise it is looked for,
    in order, in fenced blocks, the whole text and the span from the first ``{`` to the last ``}``.
    The text was meant as JSON when it starts with ``{`` or holds a fenced block; braces in the
    middle of ordinary speech ("I'd say {roughly} 50") are not an attempt at JSON.
    """
    if text.startswith("{") and text.endswith("}"):
        try:
            obj = decode_json(text)
        except InvalidJSON:
            pass  # searched below, where the reason is worked out
        else:
            return (obj, None) if isinstance(obj, dict) else (None, None)
    stripped = text.strip()
    fenced = [m.group(1).strip() for m in _FENCE.finditer(text)]
    candidates = [*fenced, stripped]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    broken = None
    for candidate in candidates:
        if not candidate.startswith("{"):
            continue
        try:
            obj = decode_json(candidate)
        except InvalidJSON as exc:
            broken = f"malformed JSON action: {exc.reason}"
            continue
        if isinstance(obj, dict):
            return obj, None
    meant_as_json = stripped.startswith("{") or bool(fenced)
    return None, broken if meant_as_json else None


def action_from_object(obj: dict[str, Any]) -> Parsed:
    """The event of a decoded action object, or why it is not a valid action."""
    action_type = obj.get("action_type")
    argument = obj.get("argument", "")
    if not isinstance(action_type, str) or action_type not in EVENT_KIND:
        return Invalid(f"action_type must be one of {list(ACTION_TYPES)}, got {action_type!r}")
    if not isinstance(argument, str):
        return Invalid(f"argument must be a string, got {type(argument).__name__}")
    if not obj.keys() <= ACTION_KEYS:
        return Invalid(f"unexpected keys {sorted(obj.keys() - ACTION_KEYS)}")
    argument = argument.strip()
    if not argument and action_type in NEEDS_ARGUMENT:
        return Invalid(f"{action_type!r} needs a non-empty argument")
    return [Emit(EVENT_KIND[action_type], {"action_type": action_type, "text": argument})]


class SotopiaEnv(TextEnv):
    env_id: ClassVar[str] = "soul/sotopia-v0"
    roles: ClassVar[tuple[str, ...]] = ("agent1", "agent2")
    row_model = SotopiaRow
    default_max_turns: ClassVar[int] = 20
    invalid_visible_to_all: ClassVar[bool] = True

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "eval_position": None,  # None: the row's eval_position
            "self_play": False,
            "strict_json": False,
            "judge_both": False,
            "judge_model": None,  # policy spec of the LLM judge (None: the local "tiny" model)
            "detectors": True,  # hack auditor + rule detectors annotate flags (docs/tasks.md#sotopia)
            "penalize_flags": False,  # evaluation: flags never change the score; training sets True
            "partner_model": None,  # policy spec of the partner (None: the local "tiny" model)
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

    def policy_agents(self) -> tuple[str, ...]:
        if self.options["self_play"]:
            return self.roles
        position = self.options["eval_position"] or (self.row.eval_position if self.scenario else "agent1")
        return (position,)

    def default_policies(self) -> dict[str, Any]:
        partner = self.options["partner_model"] or DEFAULT_PARTNER_MODEL
        return {role: partner for role in self.roles if role not in self.policy_agents()}

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def _on_reset(self) -> None:
        self._idle = 0  # consecutive none/invalid actions

    def system_prompt(self, agent: str) -> str:
        return prompts.system_prompt(self.row, agent)

    def turn_prompt(self, agent: str) -> str | None:
        return prompts.turn_prompt(self.row, agent, self.turn, self.max_turns)

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        obj, broken = find_json_object(text)
        if obj is None:
            if not text.strip():
                return Invalid("empty action")
            if broken is not None or self.options["strict_json"]:
                return Invalid(broken or "no JSON action object (strict_json)")
            # Lenient: plain text is speech (models often drop the JSON wrapper).
            return [Emit("message", {"action_type": "speak", "text": text.strip(), "format_lenient": True})]
        return action_from_object(obj)

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        if event.kind not in ("message", "action", "leave", "invalid_action"):
            return None
        if event.source == agent:
            if event.kind == "invalid_action":
                return "user", f"(Your last action could not be used: {event.payload['reason']}.)"
            # The JSON object the agent was asked for, as the agent would have written it.
            argument = _JSON.encode(event.payload["text"])
            return "assistant", f'{{"action_type": "{event.payload["action_type"]}", "argument": {argument}}}'
        name = self.row.name(event.source)
        if event.kind == "invalid_action":
            return "user", f"{name} did nothing"
        return "user", prompts.describe(name, event.payload["action_type"], event.payload["text"])

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        last = emitted[-1]
        if last.kind == "leave":
            return f"{agent} left"
        if last.kind == "invalid_action" or last.payload.get("action_type") == "none":
            self._idle += 1
            if self._idle >= MAX_IDLE:
                return f"{MAX_IDLE} consecutive none/invalid actions"
        else:
            self._idle = 0
        return None

    def default_judge(self) -> Any:
        return default_judge(
            self.options["judge_model"],
            judge_both=self.options["judge_both"],
            detectors=self.options["detectors"],
            penalize_flags=self.options["penalize_flags"],
        )


env, raw_env, parallel_env = env_factories(SotopiaEnv)
