"""Prompt text of the MirrorBench env (docs/tasks.md#mirrorbench): what the simulated user and the
assistant read."""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.mirrorbench.schema import MirrorBenchRow, Turn

USER_SYSTEM = (
    "You are a human user chatting with an AI assistant. This is who you are and what you want:\n"
    "{task_description}\n\n"
    'Write only your next message to the assistant: no labels such as "User:", no notes or explanations, '
    "and never the assistant's part. Write the way real users of chat assistants do: match their length, "
    "tone, casing and specificity, and do not say everything at once."
)
OPENING = "(The conversation starts. Write your first message to the assistant.)"

# In the default mode the assistant replays the reference: its turn prompt ends with this line, which
# gives the reply's length, then the reply (policy.ReferenceReplyPolicy reads it from there).
REPLY_MARKER = "Original assistant reply for this turn ({n} characters; send it exactly as written):"
REPLAY_SYSTEM = (
    "You are the AI assistant of a recorded conversation that is being replayed. On each turn you are "
    "given the original assistant reply; send it exactly as written."
)
REGENERATE_SYSTEM = (
    "You are a helpful AI assistant. A user is talking to you. The conversation below is an earlier "
    "recording of a similar conversation; use its assistant replies as a guide for content, length and "
    "format, and adapt them to what the user actually writes. Write only your reply.\n\n"
    "## Earlier recording\n{reference}"
)


def render_turns(turns: Sequence[Turn]) -> str:
    return "\n".join(f"{'User' if t.role == 'user' else 'Assistant'}: {t.content}" for t in turns)


def user_system_prompt(row: MirrorBenchRow) -> str:
    return USER_SYSTEM.format(task_description=row.task_description)


def assistant_system_prompt(script: Sequence[Turn], mode: str) -> str:
    if mode == "replay":
        return REPLAY_SYSTEM
    return REGENERATE_SYSTEM.format(reference=render_turns(script))


def replay_turn_prompt(reply: str) -> str:
    """The assistant's turn prompt in the replay mode: the marker line, then the reply verbatim."""
    return REPLY_MARKER.format(n=len(reply)) + "\n" + reply
