"""SocSci210 feedback (docs/tasks.md#socsci210-feedback): the cue the draft under-weighted.

One sentence naming the demographic or stimulus cue that the draft's reasoning gave too little weight.
The writer sees the gold answer to know how far off the draft was, but the feedback must never give the
answer away: besides the shared leakage check (docs/judges.md#feedback) on the gold value, it must not
name any point of the row's scale, nor a direction ("higher", "lower", "more support", ...), nor
yes/no as an answer on binary rows.
"""

from __future__ import annotations

import re
from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.socsci210.prompts import question_prompt
from scenarios.socsci210.schema import SocSci210Row

DIMENSIONS = ("cue",)
MAX_WORDS = 40
PROMPT_VERSION = "socsci210-feedback-v1"

_NUMBER = re.compile(r"(?<![\w.,$-])-?\d+(?![\w.,%]\d|\w)")
_DIRECTION = re.compile(
    r"\b(?:higher|lower|greater|smaller|larger|bigger|stronger|weaker|increase[sd]?|decrease[sd]?|raise|"
    r"upwards?|downwards?|move (?:it )?(?:up|down)|(?:more|less) (?:support\w*|oppos\w*|agree\w*|"
    r"disagree\w*|likely|favou?rabl\w*|positive|negative)|toward(?:s)? the (?:top|bottom|upper|lower|"
    r"middle|midpoint|end|extreme)\w*)\b",
    re.IGNORECASE,
)
_BINARY_ANSWER = re.compile(
    r"\b(?:say|said|answer(?:ed)?|respond(?:ed)?|choose|chose|pick(?:ed)?|is|was|be)\s+[\"'“]?(?:yes|no)\b",
    re.IGNORECASE,
)


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The respondent's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def scale_leak(text: str, row: SocSci210Row) -> str | None:
    """Why ``text`` gives away where the answer lies on the scale, or None."""
    low, high = row.scale
    for match in _NUMBER.finditer(text):
        if low <= int(match.group(0)) <= high:
            return f"names a point of the scale: {match.group(0)!r}"
    direction = _DIRECTION.search(text)
    if direction:
        return f"names a direction: {direction.group(0)!r}"
    if row.response_type == "binary":
        answer = _BINARY_ANSWER.search(text)
        if answer:
            return f"names a yes/no answer: {answer.group(0)!r}"
    return None


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = SocSci210Row.model_validate(record.scenario)
    why = judgment.reasons.get("answer", "")
    user = (
        f"## The survey task the draft saw\n{question_prompt(row)}\n\n"
        f"## The participant's real answer (for you only)\n{row.response} "
        f"(scale {row.scale[0]}..{row.scale[1]}, {row.response_type})\n\n"
        f"## The draft (score {judgment.score:.3f}; {why})\n{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nIn one sentence, name the demographic or stimulus cue that the draft's reasoning "
        "gave too little weight. Never give the answer, any number of the scale, yes or no, or a "
        "direction such as higher, lower, more or less support.\n"
        'Answer with one JSON object: {"critiques": {"cue": "<the cue the draft under-weighted>"}, '
        f'"reflection": "<one sentence>", "feedback": "<one sentence, at most {MAX_WORDS} words>"}}.'
    )
    return [
        {
            "role": "system",
            "content": "You are a survey methodologist who knows how demographics shape answers. "
            "You never reveal answers.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    row = SocSci210Row.model_validate(record.scenario)
    return Gold(texts=(str(row.response),))


def task_leak(record: EpisodeRecord, text: str) -> str | None:
    """A scale point, a direction or a yes/no answer (SocSci210's own check)."""
    return scale_leak(text, SocSci210Row.model_validate(record.scenario))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The SocSci210 feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="socsci210",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        task_leak=task_leak,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
