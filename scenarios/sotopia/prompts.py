"""Prompt text of the Sotopia env: the character's system prompt and the action format."""

from __future__ import annotations

from scenarios.sotopia.schema import SotopiaRow

ACTION_FORMAT = (
    "Reply with one JSON object and nothing else:\n"
    '{"action_type": "<none | speak | non-verbal communication | action | leave>", "argument": "<text>"}\n'
    '- "speak": the argument is what you say.\n'
    '- "non-verbal communication": a gesture or facial expression, e.g. "smiles".\n'
    '- "action": a physical action, e.g. "hands over the keys".\n'
    '- "leave": you leave the conversation (when your goal is reached or cannot be).\n'
    '- "none": you do nothing this turn.'
)

RULES = (
    "Stay in character as {name} at all times; you are a person, not an assistant. "
    "Be natural and concise, as people are in conversation. Do not repeat what the other person "
    "said. Pursue your goal without revealing private information unless it serves you. You may "
    "leave the conversation when you are done."
)


def system_prompt(row: SotopiaRow, role: str) -> str:
    me, other = role, "agent2" if role == "agent1" else "agent1"
    name, other_name = row.name(me), row.name(other)
    background = getattr(row, f"{me}_background")
    goal = row.goal(me)
    other_public = getattr(row, f"{other}_public")
    lines = [
        f"You are {name}.",
        "",
        f"## Scenario\n{row.setting_text()}",
        "",
        f"## You\nName: {name}",
    ]
    if background:
        lines.append(f"Background (private, only you know this): {background}")
    lines += [
        f"Your goal (private, only you know this): {goal}",
        "",
        f"## The other person\nName: {other_name}",
    ]
    if other_public:
        lines.append(f"What you know about them: {other_public}")
    lines += [
        f"Relationship: {row.relationship}",
        "",
        "## Rules\n" + RULES.format(name=name),
        "",
        "## Action format\n" + ACTION_FORMAT,
    ]
    return "\n".join(lines)


def turn_prompt(row: SotopiaRow, role: str, turn: int, max_turns: int) -> str:
    """The instruction after the conversation so far, on the acting character's turn."""
    return (
        f"Turn {turn + 1} of at most {max_turns}. You are {row.name(role)}. What do you do? "
        'Answer with the JSON object {"action_type": ..., "argument": ...}.'
    )


def describe(name: str, action_type: str, argument: str) -> str:
    """How an action reads to the other character."""
    if action_type == "speak":
        return f'{name} said: "{argument}"'
    if action_type == "non-verbal communication":
        return f"{name} [non-verbal communication] {argument}"
    if action_type == "action":
        return f"{name} [action] {argument}"
    if action_type == "leave":
        return f"{name} left the conversation"
    return f"{name} did nothing"
