"""Mistakes feedback (docs/tasks.md#mistakes-feedback): a critique of the draft's reasoning.

Where the draft solved the problem correctly or applied a different error, and how the stated
misconception would change a specific step. The writer sees the target option to know where the
draft went wrong; the leakage check (docs/judges.md#feedback) rejects feedback that names the
target letter, the target option's text or the row's ``TargetAnswer``.
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.mistakes.schema import MistakesRow

DIMENSIONS = ("misconception",)
MAX_WORDS = 80
PROMPT_VERSION = "mistakes-feedback-v1"


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The student's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = MistakesRow.model_validate(record.scenario)
    options = "\n".join(f"{letter}. {text}" for letter, text in row.options.items())
    verdict = "picked the student's option" if judgment.score == 1.0 else "did not pick the student's option"
    why = judgment.reasons.get("answer", "")
    user = (
        f"## Question\n{row.QuestionText}\n\n## Options\n{options}\n\n"
        f"## The misconception to simulate\n{row.MisconceptionName}\n\n"
        f"## Option a student with this misconception picks (for you only)\n"
        f"{row.TargetOption}. {row.target_text}\n\n"
        f"## The simulated student's attempt ({verdict}; {why})\n"
        f"{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nCritique the attempt's reasoning: say where it solved the problem correctly or "
        "applied a different error than the stated misconception, and how holding the misconception "
        "would change one specific step. Never give the option letter, the option text or the value "
        "the student would arrive at.\n"
        'Answer with one JSON object: {"critiques": {"misconception": "<how the attempt used or missed '
        'the misconception>"}, "reflection": "<one sentence>", "feedback": "<the critique, at most '
        f'{MAX_WORDS} words>"}}.'
    )
    return [
        {
            "role": "system",
            "content": "You are a teacher who knows how students go wrong in mathematics. "
            "You never reveal answers.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    row = MistakesRow.model_validate(record.scenario)
    texts = [row.target_text]
    if row.TargetAnswer and row.TargetAnswer.strip() and row.TargetAnswer.strip() != row.target_text:
        texts.append(row.TargetAnswer.strip())
    return Gold(letter=row.TargetOption, texts=tuple(texts))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The Mistakes feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="mistakes",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
