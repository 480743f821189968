"""Prompt text of the Mistakes env (docs/tasks.md#mistakes)."""

from __future__ import annotations

from scenarios.mistakes.schema import MistakesRow

SYSTEM_PROMPT = """You are simulating a school student who holds a specific misconception in mathematics.
Answer the question the way this student would, not the way an expert would:
- Do not give the correct answer.
- Reason briefly, in the student's own voice, applying the misconception where it matters.
- If no option matches your result exactly, pick the closest one.
- End with the letter of your chosen option inside the answer tag, for example <answer>A</answer>."""


def question_prompt(row: MistakesRow) -> str:
    options = "\n".join(f"{letter}. {text}" for letter, text in row.options.items())
    return (
        f"## Question\n{row.QuestionText}\n\n## Options\n{options}\n\n"
        f"## Your misconception\n{row.MisconceptionName}\n\n"
        "Which option do you choose? Reason briefly as this student, then give one letter inside the "
        "answer tag."
    )
