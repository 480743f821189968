"""Prompt text of the Hi-ToM env (the assumptions paraphrase the benchmark's)."""

from __future__ import annotations

from judges.extraction import LETTERS
from scenarios.hitom.schema import HiToMRow

ASSUMPTIONS = """Read the story and answer the question. Assume:
1. A person sees everything that happens in the room until they leave it; after leaving they see nothing more.
2. A person can only infer what another person believes through being in the room together or talking.
3. People tend to lie. Telling a lie does not change what the liar believes.
4. A person trusts those who left the room later than themselves, and distrusts those who left earlier.
5. Private talk is heard only by the listener; a public claim is heard by everyone present."""


def question_prompt(row: HiToMRow) -> str:
    options = "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(row.choices))
    return (
        f"{ASSUMPTIONS}\n\n## Story\n{row.story}\n\n## Question\n{row.question}\n\n## Options\n{options}\n\n"
        "Think step by step, then give the letter of your answer inside the answer tag, "
        "for example <answer>A</answer>."
    )
