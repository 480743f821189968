"""The oracle service agent (spec ``oracle``): the reference point for tau-user graders
(docs/tasks.md#tau-user-oracle).

It plays the ``agent`` role of ``soul/tau-user-v0`` made with ``agent="oracle"``: that env ends the
agent's turn prompt with a line ``ORACLE_MARKER`` followed by the task's gold actions and required
outputs as JSON (only in that mode, only for the agent). The oracle issues the gold actions in order,
one ``<tool_call>`` per turn, then sends a closing message that contains every required output. Its
progress is read from the chat (the tool calls it already made), so it keeps no state, needs nothing
but the messages, and one instance serves any number of episodes, through the runner or ``AutoPlay``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from policies.base import ChatRequest, Completion, Policy, PolicyError, PolicySpec

CLOSING = "Thank you for your patience. Everything is done on my side."
ORACLE_MARKER = "Oracle plan (gold actions and outputs, JSON):"


def oracle_prompt(actions: Sequence[Mapping[str, Any]], outputs: Sequence[str]) -> str:
    """The turn prompt that gives the oracle its plan (written by the env in oracle mode)."""
    plan = {"actions": [dict(a) for a in actions], "outputs": list(outputs)}
    return f"{ORACLE_MARKER}\n{json.dumps(plan, sort_keys=True)}"


def plan_of(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The plan after the last marker of the last (user) message."""
    content = str(messages[-1].get("content", "")) if messages and messages[-1].get("role") == "user" else ""
    head, marker, plan = content.rpartition(ORACLE_MARKER + "\n")
    if not marker:
        raise PolicyError(
            "the oracle needs the task's plan in its turn prompt: make the env with agent='oracle'"
        )
    try:
        parsed = json.loads(plan)
    except ValueError:
        raise PolicyError("the oracle's plan is not JSON") from None
    return parsed


def calls_made(messages: Sequence[Mapping[str, Any]]) -> int:
    """How many ``<tool_call>`` blocks the agent has sent so far (its own turns are ``assistant``)."""
    return sum(
        str(m.get("content", "")).count("<tool_call>") for m in messages if m.get("role") == "assistant"
    )


def closing_message(outputs: Sequence[str]) -> str:
    if not outputs:
        return CLOSING
    return f"{CLOSING} The details: {'; '.join(str(o) for o in outputs)}."


def oracle_action(messages: Sequence[Mapping[str, Any]]) -> str:
    """The next gold action as a ``<tool_call>`` block, or the closing message once all are made."""
    gold = plan_of(messages)
    actions = list(gold.get("actions", ()))
    done = calls_made(messages)
    if done < len(actions):
        action = actions[done]
        call = {"name": action["name"], "arguments": action.get("arguments", {})}
        return f"<tool_call>{json.dumps(call, sort_keys=True)}</tool_call>"
    return closing_message(gold.get("outputs", ()))


class OraclePolicy(Policy):
    """Issues the gold actions in order, then a closing message with the required outputs."""

    strip_think = False

    def __init__(self) -> None:
        super().__init__()
        self.spec = PolicySpec(backend="oracle", model="gold-actions")

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        out = []
        for request in requests:
            text = oracle_action(request.messages)
            out.append(Completion(text=text, raw=text))
        return out
