"""ToMi feedback (docs/tasks.md#tomi-feedback): one sentence pointing at the gap in the draft.

A move that happened while someone was away, belief versus reality, the more specific container. The
writer sees the gold location to know where the draft went wrong, and the leakage check
(docs/judges.md#feedback) rejects feedback that names it.
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.tomi.schema import ToMiRow

DIMENSIONS = ("location_tracking",)
MAX_WORDS = 60
PROMPT_VERSION = "tomi-feedback-v1"


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The answerer's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = ToMiRow.model_validate(record.scenario)
    candidates = f"\n\n## Possible answers\n{', '.join(row.cands)}" if row.cands else ""
    verdict = "correct" if judgment.score == 1.0 else "wrong"
    why = judgment.reasons.get("answer", "")
    user = (
        f"## Story\n{row.story}\n\n## Question\n{row.question}{candidates}\n\n"
        f"## Gold answer (for you only)\n{row.correct_answer}\n\n"
        f"## The student's attempt ({verdict}; {why})\n"
        f"{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nIn ONE sentence, point at the gap in the attempt: a move that happened while "
        "someone was away, the difference between where someone believes the object is and where it "
        "really is, or a more specific container; an attempt that names several places should commit "
        "to one. Never name the gold location.\n"
        'Answer with one JSON object: {"critiques": {"location_tracking": "<what the attempt missed>"}, '
        '"reflection": "<one sentence>", "feedback": "<the one-sentence hint>"}.'
    )
    return [
        {
            "role": "system",
            "content": "You are a tutor for theory-of-mind puzzles. You never reveal answers.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    row = ToMiRow.model_validate(record.scenario)
    return Gold(texts=(row.correct_answer,))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The ToMi feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="tomi",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
