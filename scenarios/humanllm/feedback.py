"""HumanLLM feedback (docs/tasks.md#humanllm-feedback): the purchase-history pattern the draft missed.

One sentence on the pattern in the history that the ranking missed (a category, a brand or price level,
the activity the last purchases point to). The writer sees the gold item to know what was missed, but
the feedback must never name a letter or a candidate: besides the shared leakage check
(docs/judges.md#feedback) on the gold letter and item, every candidate's text and any letter pattern
(``option C``, ``(c)``, ``C, A``) is rejected.
"""

from __future__ import annotations

import re
from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold, find_leak
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.humanllm.prompts import question_prompt
from scenarios.humanllm.schema import HumanLLMRow

DIMENSIONS = ("pattern",)
MAX_WORDS = 40
PROMPT_VERSION = "humanllm-feedback-v1"

_LETTER_PATTERNS = (
    re.compile(r"\(\s*[A-Za-z]\s*\)"),
    re.compile(r"\b(?i:option|choice|letter|candidate|item|answer|pick|rank)\s*[:\-#]?\s*[A-T]\b(?!['’])"),
    re.compile(r"\b[A-T]\s*,\s*[A-T]\b"),
    re.compile(r"\b[A-T]:"),
)


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The user's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def candidate_leak(text: str, row: HumanLLMRow) -> str | None:
    """Why ``text`` names a candidate or a letter, or None."""
    for pattern in _LETTER_PATTERNS:
        match = pattern.search(text)
        if match:
            return f"names a letter: {match.group(0)!r}"
    return find_leak(text, Gold(texts=tuple(row.candidates)))


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = HumanLLMRow.model_validate(record.scenario)
    why = judgment.reasons.get("answer", "")
    user = (
        f"## The task the draft saw\n{question_prompt(row)}\n\n"
        f"## What the user really bought next (for you only)\n{row.candidates[row.answer_index]}\n\n"
        f"## The draft (score {judgment.score:.3f}; {why})\n{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nIn one sentence, name the pattern in the purchase history that the ranking missed "
        "(a category, a brand or price level, the activity the last purchases point to). Never name a "
        "letter or any candidate item.\n"
        'Answer with one JSON object: {"critiques": {"pattern": "<the pattern the draft missed>"}, '
        f'"reflection": "<one sentence>", "feedback": "<one sentence, at most {MAX_WORDS} words>"}}.'
    )
    return [
        {
            "role": "system",
            "content": "You are a retail analyst who reads purchase histories. You never reveal answers.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    row = HumanLLMRow.model_validate(record.scenario)
    return Gold(letter=row.gold_letter, texts=(row.candidates[row.answer_index],))


def task_leak(record: EpisodeRecord, text: str) -> str | None:
    """A candidate's text or any letter (HumanLLM's own check)."""
    return candidate_leak(text, HumanLLMRow.model_validate(record.scenario))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The HumanLLM feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="humanllm",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        task_leak=task_leak,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
