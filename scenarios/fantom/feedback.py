"""FanToM feedback (docs/tasks.md#fantom-feedback): one or two sentences on what the draft got wrong about
who had access to which information, focused by question family.

Multiple choice: what each character witnessed or was told. List: who was present when the
information came up. Binary: direct access, not inference. Fact: only what was said. The writer sees
the gold to know where the draft went wrong; the leakage check (docs/judges.md#feedback) rejects
feedback that names the gold letter or option text, the fact answer, the whole gold name list, or
states the yes/no answer.
"""

from __future__ import annotations

import re
from typing import Any

from judges.cache import JudgeCache
from judges.extraction import LETTERS
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.fantom.judge import named
from scenarios.fantom.schema import FanToMRow

DIMENSIONS = ("information_access",)
MAX_WORDS = 60
PROMPT_VERSION = "fantom-feedback-v1"

FOCUS = {
    "multiple_choice": "what each character witnessed or was told, and when they joined or left",
    "list": "who was present in the conversation when the information came up",
    "binary": "whether the character had direct access to the information (was present or was told), "
    "not what they could have inferred",
    "fact": "only what was actually said in the conversation",
}


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The answerer's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def gold_text(row: FanToMRow) -> str:
    """The gold as the writer reads it."""
    if row.family == "multiple_choice" and row.gold_letter is not None:
        return f"({row.gold_letter.lower()}) {row.options[LETTERS.index(row.gold_letter)]}"
    if row.family == "list":
        wrong = f" (and not: {', '.join(row.wrong_answer)})" if row.wrong_answer else ""
        return ", ".join(row.correct_answer) + wrong  # type: ignore[arg-type]
    return str(row.correct_answer)


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = FanToMRow.model_validate(record.scenario)
    verdict = "correct" if judgment.score == 1.0 else f"score {judgment.score:.2f}"
    why = judgment.reasons.get("answer", "")
    extra = f"## Extra Information\n{row.extra_info}\n\n" if row.extra_info.strip() else ""
    user = (
        f"## Question type\n{row.question_type}\n\n## Context\n{row.context}\n\n{extra}"
        f"## Question\n{row.complete_question}\n\n## Gold answer (for you only)\n{gold_text(row)}\n\n"
        f"## The student's attempt ({verdict}; {why})\n{draft_of(record, judgment.agent)}\n\n"
        f"## Your task\nIn one or two sentences, point the attempt to {FOCUS[row.family]}. "
        "Never state the answer: no option letter or option text, no yes or no, not the list of names, "
        "not the answer text.\n"
        'Answer with one JSON object: {"critiques": {"information_access": "<what the attempt missed>"}, '
        '"reflection": "<one sentence>", "feedback": "<the one or two sentence hint>"}.'
    )
    return [
        {
            "role": "system",
            "content": "You are a tutor for theory-of-mind questions about conversations. "
            "You never reveal answers.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    """What the shared leakage check looks for: the gold letter and option text, or the fact answer."""
    row = FanToMRow.model_validate(record.scenario)
    if row.family == "multiple_choice" and row.gold_letter is not None:
        return Gold(letter=row.gold_letter, texts=(row.options[LETTERS.index(row.gold_letter)],))
    if row.family == "fact":
        return Gold(texts=(str(row.correct_answer),))
    return Gold()


def stated_answer(feedback: str, row: FanToMRow) -> str | None:
    """FanToM's own leaks: feedback that names every gold name of a list question, or states the
    yes/no answer of a binary one (``the answer is no``, ``answer no``, or opening with it)."""
    if row.family == "list" and all(named(feedback, name) for name in row.correct_answer):
        return f"names every gold name: {row.correct_answer}"
    if row.family == "binary":
        gold = re.escape(str(row.correct_answer))
        pattern = re.compile(
            rf"^\W*{gold}\b|\b(?:answer|reply|say)(?:\s+(?:is|was|should\s+be|would\s+be))?"
            rf"\s*[:\"'“]?\s*{gold}\b",
            re.IGNORECASE,
        )
        m = pattern.search(feedback)
        if m:
            return f"states the answer: {m.group(0).strip()!r}"
    return None


def task_leak(record: EpisodeRecord, text: str) -> str | None:
    """The answer stated outright (FanToM's own rules for list and binary questions)."""
    return stated_answer(text, FanToMRow.model_validate(record.scenario))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The FanToM feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="fantom",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        task_leak=task_leak,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
