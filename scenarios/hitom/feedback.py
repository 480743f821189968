"""Hi-ToM feedback (docs/tasks.md#hi-tom-feedback): one sentence naming the decisive step the draft got wrong.

Who left when, who lied to whom, whether a statement was private. The writer sees the gold to know
where the draft went wrong, and the leakage check (docs/judges.md#feedback) rejects feedback that
names the gold letter or the gold option text.
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.extraction import LETTERS
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.hitom.schema import HiToMRow

DIMENSIONS = ("belief_tracking",)
MAX_WORDS = 60
PROMPT_VERSION = "hitom-feedback-v1"


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The answerer's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = HiToMRow.model_validate(record.scenario)
    options = "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(row.choices))
    verdict = "correct" if judgment.score == 1.0 else "wrong"
    why = judgment.reasons.get("answer", "")
    user = (
        f"## Story\n{row.story}\n\n## Question\n{row.question}\n\n## Options\n{options}\n\n"
        f"## Gold answer (for you only)\n{row.gold}. {row.choices[LETTERS.index(row.gold)]}\n\n"
        f"## The student's attempt ({verdict}; {why})\n"
        f"{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nIn ONE sentence, name the decisive step of the story the attempt got wrong or "
        "should check again: who left the room when, who lied to whom, whether a statement was private "
        "or public, whose belief is being asked about. Never give the option letter, the option text or "
        "the location.\n"
        'Answer with one JSON object: {"critiques": {"belief_tracking": "<what the attempt missed>"}, '
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
    row = HiToMRow.model_validate(record.scenario)
    return Gold(letter=row.gold, texts=(row.choices[LETTERS.index(row.gold)],))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The Hi-ToM feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="hitom",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
