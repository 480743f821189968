"""Social-R1 feedback (docs/tasks.md#social-r1): one sentence naming the social cue the draft missed.

What a character knows, wants or hides, or what an utterance means pragmatically. Unlike the
original's "reference response" (which explained the gold and ended with the gold answer tag), the
writer never gives the answer: the leakage check (docs/judges.md#feedback) rejects the gold letter,
the gold option text and any 8 words in a row of it.
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.extraction import LETTERS
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.social_r1.schema import SocialR1Row

DIMENSIONS = ("social_inference",)
MAX_WORDS = 60
PROMPT_VERSION = "social-r1-feedback-v1"


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The answerer's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = SocialR1Row.model_validate(record.scenario)
    verdict = "correct" if judgment.score == 1.0 else "wrong"
    why = judgment.reasons.get("answer", "")
    user = (
        f"## The question (story, question and options)\n{row.prompt_text}\n\n"
        f"## Gold answer (for you only)\n{row.gold}. {row.options[LETTERS.index(row.gold)]}\n\n"
        f"## The student's attempt ({verdict}; {why})\n{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nIn ONE sentence, name the social cue or mental-state inference the attempt missed "
        "or should check again: what a character knows, wants or is hiding, or what an utterance really "
        "means. Never give the option letter or the text of any option.\n"
        'Answer with one JSON object: {"critiques": {"social_inference": "<what the attempt missed>"}, '
        '"reflection": "<one sentence>", "feedback": "<the one-sentence hint>"}.'
    )
    return [
        {
            "role": "system",
            "content": "You are a tutor for social-reasoning puzzles. You never reveal answers.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    row = SocialR1Row.model_validate(record.scenario)
    text = row.options[LETTERS.index(row.gold)]
    return Gold(letter=row.gold, texts=(text,), reference=(text,))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The Social-R1 feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="social_r1",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
