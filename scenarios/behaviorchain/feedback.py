"""BehaviorChain feedback (docs/tasks.md#behaviorchain): one sentence on what the draft did not weigh.

A trait, a relationship or an earlier step of the chain. The original trained this task without
feedback (``feedback=False`` reproduces that); the leakage check (docs/judges.md#feedback) rejects the
gold letter, the gold option text and any 8 words in a row of it.
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.behaviorchain.prompts import question_prompt
from scenarios.behaviorchain.schema import BehaviorChainRow

DIMENSIONS = ("persona_consistency",)
MAX_WORDS = 60
PROMPT_VERSION = "behaviorchain-feedback-v1"


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The persona simulator's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = BehaviorChainRow.model_validate(record.scenario)
    gold = row.right_option_letter
    verdict = "correct" if judgment.score == 1.0 else "wrong"
    why = judgment.reasons.get("answer", "")
    user = (
        f"{question_prompt(row, record.options.get('max_history_chars'))}\n\n"
        f"## Gold behavior (for you only)\n{gold}. {row.options_dict[gold]}\n\n"
        f"## The student's attempt ({verdict}; {why})\n{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nIn ONE sentence, name the trait, relationship or earlier step of the chain the "
        "attempt did not weigh. Never give the option letter or the text of any option.\n"
        'Answer with one JSON object: {"critiques": {"persona_consistency": "<what the attempt missed>"}, '
        '"reflection": "<one sentence>", "feedback": "<the one-sentence hint>"}.'
    )
    return [
        {"role": "system", "content": "You coach persona simulators. You never reveal answers."},
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    row = BehaviorChainRow.model_validate(record.scenario)
    text = row.options_dict[row.right_option_letter]
    return Gold(letter=row.right_option_letter, texts=(text,), reference=(text,))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The BehaviorChain feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="behaviorchain",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
