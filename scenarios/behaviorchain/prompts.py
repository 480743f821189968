"""Prompt text of the BehaviorChain env (a paraphrase of the original's sections)."""

from __future__ import annotations

from scenarios.behaviorchain.schema import OPTION_LETTERS, BehaviorChainRow

NONE = "(none)"
CUT_MARKER = "[... earlier chapters omitted ...]"


def history_text(row: BehaviorChainRow, max_chars: int | None) -> str:
    """Chapters joined by blank lines; over ``max_chars``, the OLDEST chapters are dropped (with a marker),
    never the profile, the chain, the options or the instructions."""
    chapters = list(row.history_truncated)
    if not chapters:
        return NONE
    kept = list(chapters)
    while max_chars is not None and len(kept) > 1 and len("\n\n".join(kept)) > max_chars:
        kept.pop(0)
    text = "\n\n".join(kept)
    if max_chars is not None and len(text) > max_chars:
        text = text[len(text) - max_chars :]
    if text == "\n\n".join(chapters):
        return text
    return f"{CUT_MARKER}\n\n{text}"


def chain_text(row: BehaviorChainRow) -> str:
    if row.prior_chain:
        return "\n\n".join(
            f"Step {i}:\nContext: {step.context}\nBehavior: {step.behavior}"
            for i, step in enumerate(row.prior_chain, start=1)
        )
    return row.prior_chain_text.strip() or NONE


def question_prompt(row: BehaviorChainRow, max_history_chars: int | None = None) -> str:
    options = "\n".join(f"{letter}. {row.options_dict[letter]}" for letter in OPTION_LETTERS)
    return (
        f"You are simulating the continuous behavior of {row.persona_name}. Given who they are, the story "
        "so far and how they behaved at each earlier step, decide what they do next.\n\n"
        f"## Persona Profile\n{row.profile_text.strip() or NONE}\n\n"
        f"## Historical Narrative Before the Behavior Chain\n{history_text(row, max_history_chars)}\n\n"
        f"## Prior Context-Behavior Chain\n{chain_text(row)}\n\n"
        f"## Current Context\n{row.current_context}\n\n"
        f"## Question\nWhich behavior would {row.persona_name} most likely take next?\n{options}\n\n"
        "Think step by step, then give one of A, B, C or D inside the answer tag, for example "
        "<answer>A</answer>."
    )
