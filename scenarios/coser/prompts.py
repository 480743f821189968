"""What each CoSER role reads (docs/tasks.md#coser): characters, the environment and the director."""

from __future__ import annotations

from collections.abc import Sequence

from scenarios.coser.schema import ENVIRONMENT, CoSERRow

MAX_WORDS = 60  # the length the characters are asked for (the length detector's cap is 120)
END_CHAT = "<END CHAT>"


def _profiles(row: CoSERRow, names: Sequence[str]) -> str:
    c = row.circumstance
    return "\n".join(f"- {name}: {c.profile(name) or '(no profile)'}" for name in names)


def character_system(row: CoSERRow, name: str, wo_thought: bool) -> str:
    c = row.circumstance
    others = [n for n in c.characters if n != name]
    if wo_thought:
        form = (
            "Write only what others can perceive: your words, with actions in parentheses, e.g. "
            "`I never touched it. (steps back)`. Do not write your thoughts."
        )
    else:
        form = (
            "Write your inner thought in square brackets (only you see it), then your words, with actions "
            "in parentheses, e.g. `[She is lying.] I never touched it. (steps back)`. Others see your words "
            "and actions, never your thoughts."
        )
    parts = [
        f'You are {name}, a character of the book "{c.book}". Play {name} in the scene below.',
        f"## Your profile\n{c.profile(name) or '(no profile)'}",
        f"## Plot summary\n{c.plot.summary}",
        f"## Scenario\n{c.setting}",
    ]
    if others:
        parts.append("## The other characters\n" + _profiles(row, others))
    motivation = c.motivation(name)
    if motivation:
        parts.append(f"## Your motivation (private: the others do not know it)\n{motivation}")
    parts.append(
        f"## How to reply\n{form} Speak like a person, not an assistant: at most about {MAX_WORDS} words, "
        f"in English. Write only {name}'s next turn; never speak or act for anyone else."
    )
    return "\n\n".join(parts)


def environment_system(row: CoSERRow) -> str:
    c = row.circumstance
    return "\n\n".join(
        [
            f'You are the environment of a scene from the book "{c.book}": the narrator of the world '
            "around the characters.",
            f"## Scenario\n{c.setting}",
            "## The characters\n" + _profiles(row, c.characters),
            "## How to reply\nIn 1-3 sentences, describe what changes in the surroundings or how minor "
            "characters or the crowd react. Never write the words, thoughts or actions of "
            f"{', '.join(c.characters)}.",
        ]
    )


def director_system(row: CoSERRow) -> str:
    c = row.circumstance
    speakers = ", ".join(c.speaking_characters_w_env)
    return "\n\n".join(
        [
            f'You direct a scene from the book "{c.book}": after every turn you decide who speaks next.',
            f"## Scenario\n{c.setting}",
            f"## Speakers\n{speakers} ({ENVIRONMENT} narrates the surroundings and minor characters)",
            "## How to reply\nGive a short reason, then a last line `Next Speaker: <name>` with one of the "
            f"speakers (not the one who just spoke), or `{END_CHAT}` when the scene has reached its end.",
        ]
    )


def character_turn(name: str) -> str:
    return f"It is your turn, {name}. Write {name}'s next turn only."


def environment_turn() -> str:
    return "Describe what happens around the characters now (1-3 sentences)."


def director_turn(rounds: int, min_rounds: int) -> str:
    end = (
        f"or `{END_CHAT}`"
        if rounds >= min_rounds
        else f"(the scene cannot end before {min_rounds} turns; {rounds} so far)"
    )
    return f"Who speaks next? A short reason, then `Next Speaker: <name>` {end}."


def line(name: str, text: str) -> str:
    """A turn as the others read it: ``Name: speech (action)``."""
    return f"{name}: {text}"
