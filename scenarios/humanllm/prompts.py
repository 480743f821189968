"""Prompt text of the HumanLLM env (docs/tasks.md#humanllm).

The user message keeps the row's text before ``Candidate 1:`` with each ``History N:`` entry on its own
line, then lists the candidates from the row's ``candidates`` relabelled ``A: ...``, ``B: ...`` (the
original candidate lines are replaced), then the task and the answer format.
"""

from __future__ import annotations

import re

from scenarios.humanllm.schema import CANDIDATE_MARKER, HumanLLMRow

SYSTEM_PROMPT = """You are simulating a real online shopper choosing what to buy next.
Read the user's description, their purchase history and the candidate items.
Think briefly about what this user is most likely to buy next.
The final line of your answer must be exactly {format}: {k} distinct candidate letters, the most likely \
purchase first."""

_HISTORY = re.compile(r"\s*(History \d+:)")


def answer_format(row: HumanLLMRow) -> str:
    """``<answer>X1,X2,X3,X4,X5</answer>`` (fewer placeholders when the row has fewer candidates)."""
    return "<answer>" + ",".join(f"X{i + 1}" for i in range(row.k)) + "</answer>"


def system_prompt(row: HumanLLMRow) -> str:
    return SYSTEM_PROMPT.format(format=answer_format(row), k=row.k)


def context_of(row: HumanLLMRow) -> str:
    """The text before the candidate list, one ``History N:`` entry per line."""
    before = row.prompt_text.split(CANDIDATE_MARKER, 1)[0]
    return _HISTORY.sub(r"\n\1", before).strip()


def question_prompt(row: HumanLLMRow) -> str:
    candidates = "\n".join(f"{letter}: {item}" for letter, item in zip(row.letters, row.candidates))
    first, last = row.letters[0], row.letters[-1]
    return (
        f"{context_of(row)}\n\nCandidates:\n{candidates}\n\n"
        f"Which {row.k} candidates is this user most likely to buy next? Rank them, the most likely first. "
        f"End with exactly {answer_format(row)}: {row.k} distinct letters from {first} to {last}, "
        "separated by commas."
    )
