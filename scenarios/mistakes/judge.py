"""The Mistakes rule judge: 1 iff the student's letter is the target option (docs/tasks.md#mistakes).

Only the non-empty options can be chosen; they keep their letters, so with options A, B and D an
answer C is out of range, exactly like E.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from judges.extraction import Extraction, extract_answer
from judges.judgment import Judgment
from judges.rules import RuleJudge, final_text
from osim_env.episode import EpisodeRecord
from scenarios.mistakes.schema import OPTION_LETTERS, MistakesRow


def extract_option(text: str, row: MistakesRow) -> Extraction:
    """The chosen letter (docs/judges.md#extraction), which must name one of the row's non-empty options."""
    extraction = extract_answer(text, n_options=len(OPTION_LETTERS))
    if extraction.valid and extraction.answer not in row.options:
        return Extraction(None, "letter out of range")
    return extraction


class MistakesJudge(RuleJudge):
    """Score 1 iff the extracted letter equals ``TargetOption``; an invalid answer scores 0."""

    kind = "mcq"

    def params(self) -> dict[str, Any]:
        return {"gold": "TargetOption", "options": "non-empty AnswerAText..AnswerDText"}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        try:
            row = MistakesRow.model_validate(record.scenario)
        except ValidationError as exc:
            return Judgment.failed(agent, f"the episode's row is not a Mistakes row: {exc}", self.spec)
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "no answer found")
        extraction = extract_option(text, row)
        if not extraction.valid:
            return self.invalid(agent, extraction.reason or "no answer found")
        correct = extraction.answer == row.TargetOption
        return self.verdict(agent, correct, f"answered {extraction.answer}, target {row.TargetOption}")


def mistakes_judge() -> MistakesJudge:
    return MistakesJudge()
