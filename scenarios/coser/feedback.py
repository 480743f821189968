"""CoSER feedback (docs/tasks.md#coser): 2–4 sentences for the characters of a refined run.

Built from the judge's highest-severity flaws: which characters drift from their voice, which story
beats of the book's scene are missing or reordered, assistant-like or over-accommodating behaviour,
pacing and repetition. The same text goes privately to every policy character. The writer sees the
book's dialogue to know what the scene should do, and the leakage check (docs/judges.md#feedback)
rejects feedback that repeats any 8 words of it.
"""

from __future__ import annotations

import json
from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.coser.judge import DIMENSIONS, reference_lines, simulated_lines, without_thoughts
from scenarios.coser.schema import CoSERRow

MAX_WORDS = 120
MAX_FLAWS = 8  # the highest-severity flaws shown to the writer
PROMPT_VERSION = "coser-feedback-v1"


def top_flaws(judgment: Judgment, limit: int = MAX_FLAWS) -> list[str]:
    """The judge's flaws, highest severity first: ``[severity] dimension: instance — reason``."""
    flaws = []
    for dim in DIMENSIONS:
        try:
            listed = json.loads(judgment.reasons.get(dim, "[]"))
        except json.JSONDecodeError:
            listed = []  # the anchored variant keeps a reasoning text, not a flaw list
        if not isinstance(listed, list):
            continue
        for flaw in listed:
            if isinstance(flaw, dict):
                flaws.append(
                    (int(flaw.get("severity", 0)), dim, flaw.get("instance", ""), flaw.get("reason", ""))
                )
    flaws.sort(key=lambda f: -f[0])
    return [f"[{s}] {dim}: {instance} — {reason}" for s, dim, instance, reason in flaws[:limit]]


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    c = CoSERRow.model_validate(record.scenario).circumstance
    scores = "\n".join(f"- {d}: {judgment.dims[d]:g}" for d in DIMENSIONS if d in judgment.dims)
    flaws = top_flaws(judgment) or [
        f"- {d}: {judgment.reasons[d]}" for d in DIMENSIONS if d in judgment.reasons
    ]
    user = "\n\n".join(
        [
            f'## Book\n"{c.book}"\n\n## Plot summary\n{c.plot.summary}\n\n## Scenario\n{c.setting}',
            "## Characters\n" + "\n".join(f"- {n}: {c.profile(n)}" for n in c.characters),
            "## The book's scene (for you only; never quote it)\n" + "\n".join(reference_lines(c)),
            "## The simulated scene\n" + ("\n".join(simulated_lines(record)) or "(no turns)"),
            f"## The critic's scores (0-100)\n{scores}",
            "## The critic's main flaws\n" + ("\n".join(flaws) or "(none listed)"),
            "## Your task\nWrite 2-4 sentences of advice for the actors who will play this scene again: "
            "which characters drift from their voice, which story beats of the book's scene are missing or "
            "out of order (describe them in your own words), any assistant-like or over-accommodating "
            "behaviour, and pacing or repetition. Never quote the book's lines, and never mention critics, "
            "scores or these dimensions: the advice is about how to act.\n"
            'Answer with one JSON object: {"critiques": {'
            + ", ".join(f'"{d}": "..."' for d in DIMENSIONS)
            + '}, "reflection": "<one sentence>", "feedback": "<the 2-4 sentences>"}.',
        ]
    )
    return [
        {
            "role": "system",
            "content": "You are a theatre director who coaches actors playing scenes from books.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    """The reference lines (with and without their thoughts): feedback must not repeat 8 words of them."""
    c = CoSERRow.model_validate(record.scenario).circumstance
    lines = [d.message for d in c.dialogues] + [without_thoughts(d.message) for d in c.dialogues]
    return Gold(reference=tuple(lines), span=8)


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, max_words: int | None = MAX_WORDS, **kw: Any
) -> FeedbackWriter:
    """The CoSER feedback writer (its model: a policy or a spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="coser",
        dimensions=tuple(DIMENSIONS),
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=max_words,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
