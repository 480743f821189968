"""Prompt text of the TwinVoice env (docs/tasks.md#twinvoice)."""

from __future__ import annotations

from scenarios.twinvoice.schema import TwinVoiceRow


def history_bullets(posts: list[str]) -> str:
    """One ``- post`` bullet per post; a post's further lines are indented under its bullet."""
    return "\n".join("- " + post.replace("\n", "\n  ") for post in posts)


def question_prompt(row: TwinVoiceRow) -> str:
    history = history_bullets(row.conversation_history)
    options = "\n".join(f"{letter}. {text}" for letter, text in zip("ABCD", row.answer_choices))
    return (
        "Below are posts one person wrote in the past, and a new post they are replying to. "
        "Which of the four replies did this person write?\n\n"
        f"## The person's past posts\n{history}\n\n## New post\n{row.anchor_post}\n\n"
        f"## Candidate replies\n{options}\n\n"
        "Compare each reply with the person's style, tone, vocabulary and stance. Write your reasoning "
        "inside <reasoning></reasoning> tags, then give the letter of the reply inside the answer tag, "
        "for example <answer>A</answer>."
    )
