"""Prompt text of the HUMANUAL envs (docs/tasks.md#humanual).

The system message is the persona and the principles of a real person writing (a paraphrase of the
benchmark's); the user message is the context, one block per message as ``<speaker>: <content>``, and
what to write. ``render_roles=False`` joins the contents with newlines and no speakers, as the original
did. An over-long context keeps the post and the most recent messages (``max_context_words``); the
persona and the instructions are never cut.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenarios.humanual.schema import ContextMessage, HumanualRow

ASSISTANT_ROLES = frozenset({"assistant", "model", "gpt", "bot", "chatbot"})
YOU = "HUMAN (you)"

SYSTEM_PROMPT = """You are a real human, called HUMAN here. This is who you are:

<persona>
{persona}
</persona>

Principles:
- Act naturally, within the ordinary social codes of the place you are writing in.
- You have your own personality, preferences and boundaries; you are not here to please anyone.
- Your beliefs and values change slowly, but your emotions are real and can be strong.
- Keep apart what you know and what you only guess.
- Think practically, the way a person with your life would.

Write only what HUMAN would write, inside <response>...</response>. Do not mention these instructions."""

# What HUMAN writes, per domain.
TASKS = {
    "book": "Write HUMAN's review of this book.",
    "chat": "Write HUMAN's next message to the assistant.",
    "email": "Write HUMAN's reply to this email thread.",
    "news": "Write HUMAN's comment on this news video.",
    "opinion": "Write HUMAN's comment in this discussion.",
    "politics": "Write HUMAN's response to this political blog post and its comments.",
}


def system_prompt(row: HumanualRow) -> str:
    return SYSTEM_PROMPT.format(persona=row.persona)


def speakers(row: HumanualRow, domain: str) -> list[str]:
    """Who wrote each context message, as the reader sees it: ``HUMAN (you)`` for the person's own
    messages (role equal to ``user_id``; in the chat domain every non-assistant message), ``Assistant``
    for assistant roles, ``Post`` for any other first message (``Post author`` when its author writes
    again later), otherwise ``User 1``, ``User 2``, ... in order of first appearance."""
    numbers: dict[str, int] = {}
    names = []
    post_role = row.prompt[0].role
    for i, message in enumerate(row.prompt):
        role = message.role
        if role.lower() in ASSISTANT_ROLES:
            names.append("Assistant")
        elif domain == "chat" or (row.user_id is not None and role == row.user_id):
            names.append(YOU)
        elif i == 0:
            names.append("Post")
        elif role == post_role:
            names.append("Post author")
        else:
            numbers.setdefault(role, len(numbers) + 1)
            names.append(f"User {numbers[role]}")
    return names


@dataclass(frozen=True)
class Block:
    """One context message as the reader sees it: ``text`` (speaker label included when asked)."""

    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def blocks(row: HumanualRow, domain: str, render_roles: bool) -> list[Block]:
    messages: list[ContextMessage] = list(row.prompt)
    if not render_roles:
        return [Block(m.content) for m in messages]
    return [Block(f"{name}: {m.content}") for name, m in zip(speakers(row, domain), messages)]


def keep_last_words(text: str, n: int) -> str:
    """The last ``n`` words of ``text``, marked as cut."""
    return "[...] " + " ".join(text.split()[-n:])


def cut_context(parts: list[Block], max_words: int | None) -> list[str]:
    """The blocks within ``max_words``: the post (cut at its end if it alone is too long), then the most
    recent messages that fit, with a marker for the ones left out. When not even the last message fits
    whole, its last words are kept."""
    texts = [b.text for b in parts]
    if max_words is None or sum(b.words for b in parts) <= max_words:
        return texts
    post, rest = parts[0], parts[1:]
    if post.words >= max_words:
        head = " ".join(post.text.split()[:max_words]) + " [...]"
        return [head, f"[... {len(rest)} later messages omitted ...]"] if rest else [head]
    budget = max_words - post.words
    kept: list[str] = []
    for block in reversed(rest):
        if block.words > budget:
            break
        kept.insert(0, block.text)
        budget -= block.words
    if not kept:  # the last message alone is too long: keep its end
        kept = [keep_last_words(rest[-1].text, budget)] if budget > 0 else []
    omitted = len(rest) - len(kept)
    marker = [f"[... {omitted} earlier messages omitted ...]"] if omitted else []
    return [post.text, *marker, *kept]


def context_text(row: HumanualRow, domain: str, *, render_roles: bool, max_words: int | None) -> str:
    """The context as the policy and the judge read it. With roles, blocks are separated by a blank line;
    without, contents are joined by newlines (the original's concatenation)."""
    parts = cut_context(blocks(row, domain, render_roles), max_words)
    return ("\n\n" if render_roles else "\n").join(parts)


def user_prompt(row: HumanualRow, domain: str, *, render_roles: bool, max_words: int | None) -> str:
    context = context_text(row, domain, render_roles=render_roles, max_words=max_words)
    return (
        f"## Context\n{context}\n\n## Your turn\n{TASKS[domain]} "
        "Put exactly what HUMAN writes inside <response>...</response>."
    )
