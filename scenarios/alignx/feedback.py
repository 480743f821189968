"""AlignX feedback (docs/tasks.md#alignx): one sentence on the preference signal the draft did not use.

Values, register, tolerance for effort, read from the description or the user's history. The original
trained AlignX without feedback (``feedback=False`` reproduces that). The leakage check
(docs/judges.md#feedback) rejects the gold letter, the chosen reply and any 8 words in a row of either
reply.
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.alignx.judge import chosen_letter
from scenarios.alignx.prompts import question_prompt
from scenarios.alignx.schema import AlignXRow

DIMENSIONS = ("preference_signal",)
MAX_WORDS = 60
PROMPT_VERSION = "alignx-feedback-v1"


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The user simulator's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = AlignXRow.model_validate(record.scenario)
    gold = chosen_letter(record.scenario_id, record.options.get("order"))
    first, second = (row.chosen, row.rejected) if gold == "A" else (row.rejected, row.chosen)
    verdict = "correct" if judgment.score == 1.0 else "wrong"
    why = judgment.reasons.get("answer", "")
    user = (
        f"{question_prompt(row, first, second)}\n\n"
        f"## The user actually preferred (for you only)\nResponse {gold}\n\n"
        f"## The student's attempt ({verdict}; {why})\n{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nIn ONE sentence, name the preference signal in the description or history that "
        "the attempt did not use (values, register, tolerance for effort). Never give the letter and "
        "never quote either response.\n"
        'Answer with one JSON object: {"critiques": {"preference_signal": "<what the attempt missed>"}, '
        '"reflection": "<one sentence>", "feedback": "<the one-sentence hint>"}.'
    )
    return [
        {"role": "system", "content": "You coach user simulators. You never reveal answers."},
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    row = AlignXRow.model_validate(record.scenario)
    gold = chosen_letter(record.scenario_id, record.options.get("order"))
    return Gold(letter=gold, texts=(row.chosen,), reference=(row.chosen, row.rejected))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The AlignX feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="alignx",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
