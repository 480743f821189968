"""HUMANUAL feedback (docs/tasks.md#humanual-feedback): one or two sentences naming the draft's biggest
gap from the real reply.

The gap is one of: the stance or its target, the emotion and its intensity, what the reply is trying to
do, tone and structure, or length. The writer reads the context, the draft, the judge's per-point
reasoning and the real reply (to know the gap), but the feedback must never quote or closely paraphrase
the real reply: the leakage check (docs/judges.md#feedback) rejects any 8-word run of it, and the whole
real reply when it is shorter than that. The refined rollout sees only the feedback, never the real reply.
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.humanual.judge import reply_of, row_and_context

DIMENSIONS = ("biggest_gap",)
MAX_WORDS = 50
PROMPT_VERSION = "humanual-feedback-v1"


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row, context = row_and_context(record)
    draft, reason = reply_of(record, judgment.agent)
    shown = draft if draft is not None else f"(none: {reason})"
    reasoning = "\n".join(f"- {name}: {text}" for name, text in judgment.reasons.items()) or "(none)"
    user = (
        f"## The writer's persona\n{row.persona}\n\n## Context\n{context}\n\n"
        f"## The draft reply (score {judgment.score:.2f})\n{shown}\n\n"
        f"## The judge's reasoning\n{reasoning}\n\n"
        f"## What the person really wrote (for you only; never quote or paraphrase it)\n{row.completion}\n\n"
        "## Your task\nIn one or two sentences, name the draft's biggest gap from how this person really "
        "replied: their stance or its target, their emotion and its intensity, what the reply is trying to "
        "do, its tone and structure, or its length. Describe the gap; never repeat the real reply's words.\n"
        'Answer with one JSON object: {"critiques": {"biggest_gap": "<the gap>"}, '
        f'"reflection": "<one sentence>", "feedback": "<one or two sentences, at most {MAX_WORDS} words>"}}.'
    )
    return [
        {
            "role": "system",
            "content": "You coach a writer who imitates real people. You never reveal what they wrote.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    """The real reply: no 8-word run of it, and not the whole of it when it is shorter than that."""
    row, _ = row_and_context(record)
    return Gold(texts=(row.completion,), reference=(row.completion,), span=8)


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The HUMANUAL feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="humanual",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
