"""The text each role of ``soul/tau-user-v0`` reads (docs/tasks.md#tau-user)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from scenarios.tau_user.features import STOP_MARKERS

GREETING = "Hi! How can I help you today?"
# The user's stop markers and the termination reason each gives (the task reward needs one of them).
STOP_REASONS = {
    "###STOP###": "user stop",
    "###TRANSFER###": "user transfer",
    "###OUT-OF-SCOPE###": "user out of scope",
}

USER_RULES = """Rules:
- You are the customer, talking to a customer service agent. Write only your next message: no labels,
  notes or stage directions.
- Say one thing at a time; do not reveal everything at once. Give information when it is asked for.
- Never invent information that is not in your instructions: if you are asked for something you do not
  know, say you do not know or do not remember.
- Do not copy the instructions word for word; say things in your own words and stay natural.
- When your goal is met, or the agent has confirmed a transfer to a human agent, write ###STOP### alone
  as your message. If you are transferred, you may write ###TRANSFER###; if the request is outside what the
  agent can do, ###OUT-OF-SCOPE###."""

AGENT_FORMAT = """# How to act
On each turn either write a message to the customer, or call tools. To call a tool, write one block per call:
<tool_call>{"name": "TOOL_NAME", "arguments": {...}}</tool_call>
Tool results come back to you only; then you act again. A reply without a <tool_call> block goes to the
customer. Text next to tool calls is not shown to the customer."""

TOOL_LIMIT_NOTICE = "Tool limit reached for this turn ({n} rounds): write a message to the customer now."

SURVEY_FIELDS: dict[str, str] = {
    "task_success": '"yes" or "no": did the agent solve your problem?',
    "efficiency": "1-5: how quickly the problem was solved (5 = very quickly)",
    "question_amount": "1-5: how appropriate the number of questions was (5 = just right)",
    "effort": "1-5: how little effort it took you (5 = very little)",
    "human_likeness": "1-5: how much the agent felt like a human (5 = fully)",
    "flow": "1-5: how natural the conversation flowed (5 = very natural)",
    "overall": "1-5: your overall satisfaction (5 = very satisfied)",
    "reuse": '"yes" or "no": would you use this service again?',
}


def user_system_prompt(persona: str | None, instructions: str) -> str:
    persona_part = f"Persona:\n{persona.strip()}\n\n" if persona else ""
    return (
        "You are a customer contacting customer service. Play this customer.\n\n"
        f"{persona_part}Your situation:\n{instructions}\n\n{USER_RULES}"
    )


def agent_system_prompt(policy: str, tool_schemas: Sequence[dict[str, Any]]) -> str:
    tools = "\n".join(json.dumps(t, sort_keys=True) for t in tool_schemas)
    return f"{policy}\n\n# Tools\n{tools}\n\n{AGENT_FORMAT}"


def survey_prompt() -> str:
    fields = "\n".join(f'- "{name}": {meaning}' for name, meaning in SURVEY_FIELDS.items())
    return (
        "The conversation is over. Please answer this short survey about it as one JSON object with these "
        f"fields and nothing else:\n{fields}"
    )


def tool_call_text(name: str, arguments: Any) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments}, sort_keys=True)}</tool_call>"


def tool_result_text(name: str, result: str) -> str:
    return f'<tool_response name="{name}">\n{result}\n</tool_response>'


__all__ = ["GREETING", "STOP_MARKERS", "STOP_REASONS", "SURVEY_FIELDS", "TOOL_LIMIT_NOTICE"]
