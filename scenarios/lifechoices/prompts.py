"""Prompt text of the LifeChoices env (docs/tasks.md#lifechoices).

Biographies are long (tens of thousands of characters). With ``max_context_chars`` the middle of the
biography is cut and replaced by a marker; the instructions, the question and the options are never
cut, and a refined rollout renders the same text.
"""

from __future__ import annotations

from judges.extraction import LETTERS
from scenarios.lifechoices.schema import LifeChoicesRow


def cut_middle(text: str, max_chars: int | None) -> str:
    """``text`` itself, or its first and last ``max_chars / 2`` characters around an omission marker."""
    if max_chars is None or len(text) <= max_chars:
        return text
    head = (max_chars + 1) // 2
    tail = max_chars - head
    omitted = len(text) - head - tail
    end = text[len(text) - tail :] if tail else ""
    return f"{text[:head]}\n\n[... {omitted} characters of the biography omitted ...]\n\n{end}"


def system_prompt(row: LifeChoicesRow) -> str:
    book = f" from the book {row.book}" if row.book else ""
    return (
        f"You are {row.character_name}{book}. Stay in character: the profile below is your own life, "
        "remembered in your own way. Decide as you would, from your personality, values and past "
        "experiences, not as an outside adviser."
    )


def question_prompt(row: LifeChoicesRow, max_context_chars: int | None) -> str:
    options = "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(row.options))
    book = f"\nBook: {row.book}" if row.book else ""
    return (
        f"## Profile\nName: {row.character_name}{book}\n\nYour memories:\n"
        f"{cut_middle(row.input_text, max_context_chars)}\n\n"
        f"## Scenario\n{row.setting}\n\n## Question\n{row.question}\n\n## Options\n{options}\n\n"
        f"Think about what you, {row.character_name}, would do and why, then give the letter of your "
        "choice inside the answer tag, for example <answer>A</answer>."
    )
