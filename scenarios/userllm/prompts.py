"""Prompt text of the UserLLM env: the simulated user's instructions and its one message."""

from __future__ import annotations

from scenarios.userllm.schema import UserLLMRow

END_TOKEN = "<|endconversation|>"

SYSTEM = (
    "You are a human user talking to an AI assistant.\n\n"
    "## Your goal\n{intent}\n\n"
    "## How real users write\n"
    "Real users are terse: short messages, casual wording, the occasional typo, no pleasantries. They "
    "split what they want over several turns instead of explaining everything at once, and they never "
    "answer their own questions (without overdoing any of this). You are the user, not the assistant: "
    "do not offer help, do not write lists or headings, do not sign off.\n\n"
    "Write only your next message: no role label, no notes, no assistant text."
)

OPENING = "Write your opening message to the assistant."

NEXT = (
    "## The conversation so far\n{history}\n\n"
    f"If your goal is met, reply only with {END_TOKEN}; otherwise write your next message."
)


def system_prompt(row: UserLLMRow) -> str:
    return SYSTEM.format(intent=row.intent)


def turn_message(row: UserLLMRow) -> str:
    """The one user-side message: the opening instruction, or the transcript and the end-token rule."""
    if not row.has_history:
        return OPENING
    return NEXT.format(history=row.history_text())
