"""Prompt text of the ToMi env (docs/tasks.md#tomi); the rules paraphrase the benchmark's setting."""

from __future__ import annotations

from scenarios.tomi.schema import ToMiRow

RULES = """You observe everything that happens in the story below. Assume:
1. A person perceives only what happens in the place where they currently are.
2. An object that is moved is no longer in the place it was moved from.
3. Answer with the most specific container or place (the box, not the room it is in)."""


def question_prompt(row: ToMiRow) -> str:
    candidates = f"\n\n## Possible answers\n{', '.join(row.cands)}" if row.cands else ""
    return (
        f"{RULES}\n\n## Story\n{row.story}\n\n## Question\n{row.question}{candidates}\n\n"
        "Think step by step, then give only the location inside the answer tag, "
        "for example <answer>red_box</answer>."
    )
