"""TwinVoice's rule judge: 1 iff the letter is ``"ABCD"[answer_idx]`` (docs/tasks.md#twinvoice).

Every judgment of a row with a ``dimension`` also carries ``dims["accuracy.<dimension>"]`` (equal to
the score, 0 for an invalid answer), so the mean of that key over a run is the accuracy for that
persona dimension.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from judges.extraction import extract_answer
from judges.judgment import Judgment
from judges.rules import RuleJudge, final_text
from osim_env.episode import EpisodeRecord
from scenarios.twinvoice.schema import N_CHOICES, TwinVoiceRow


def breakdown_key(dimension: str) -> str:
    return f"accuracy.{dimension}"


class TwinVoiceJudge(RuleJudge):
    """Score 1 iff the extracted letter is the person's own reply; an invalid answer scores 0."""

    kind = "mcq"

    def params(self) -> dict[str, Any]:
        return {"gold": "answer_idx", "n_options": N_CHOICES, "breakdown": "dimension"}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        try:
            row = TwinVoiceRow.model_validate(record.scenario)
        except ValidationError as exc:
            return Judgment.failed(agent, f"the episode's row is not a TwinVoice row: {exc}", self.spec)
        judgment = self._letter_judgment(record, agent, row)
        if row.dimension is None:
            return judgment
        dims = {**judgment.dims, breakdown_key(row.dimension): float(judgment.score or 0.0)}
        return judgment.model_copy(update={"dims": dims})

    def _letter_judgment(self, record: EpisodeRecord, agent: str, row: TwinVoiceRow) -> Judgment:
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "no answer found")
        extraction = extract_answer(text, n_options=N_CHOICES)
        if not extraction.valid:
            return self.invalid(agent, extraction.reason or "no answer found")
        correct = extraction.answer == row.gold
        return self.verdict(agent, correct, f"answered {extraction.answer}, gold {row.gold}")


def twinvoice_judge() -> TwinVoiceJudge:
    return TwinVoiceJudge()
