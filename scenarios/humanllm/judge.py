"""The HumanLLM rule judge: MRR@5 of the gold item in the user's ranking (docs/tasks.md#humanllm).

The answer is five distinct candidate letters, most likely first; the score is 1/rank of the gold
letter, 0 when it is not among the five. A malformed ranking is invalid (score 0), never repaired.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from judges.extraction import extract_answer
from judges.judgment import Judgment
from judges.rules import RuleJudge, final_text
from osim_env.episode import EpisodeRecord
from scenarios.humanllm.schema import HumanLLMRow

# Letters separated by commas, spaces allowed only after a comma.
_RANKING = re.compile(r"^[A-Za-z](?:, *[A-Za-z])*$")


@dataclass(frozen=True)
class Ranking:
    """The ranked letters (upper case), or why the answer is invalid."""

    letters: tuple[str, ...] | None
    reason: str | None = None


def extract_ranking(text: str, row: HumanLLMRow) -> Ranking:
    """The last answer tag's content as ``row.k`` distinct letters within the candidate range."""
    extraction = extract_answer(text)
    if not extraction.valid:
        return Ranking(None, extraction.reason)
    content = str(extraction.answer).strip()
    need = f"need {row.k} distinct letters"
    if not _RANKING.match(content):
        return Ranking(None, need)
    letters = tuple(letter.strip().upper() for letter in content.split(","))
    if len(letters) != row.k:
        return Ranking(None, need)
    if any(letter not in row.letters for letter in letters):
        return Ranking(None, "letter out of range")
    if len(set(letters)) != len(letters):
        return Ranking(None, need)
    return Ranking(letters)


class HumanLLMJudge(RuleJudge):
    """Score = 1 / (1-based rank of the gold letter), 0 when absent (MRR@5); invalid answers score 0."""

    kind = "humanllm"

    def params(self) -> dict[str, Any]:
        return {"gold": "answer_index", "metric": "mrr@5"}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        try:
            row = HumanLLMRow.model_validate(record.scenario)
        except ValidationError as exc:
            return Judgment.failed(agent, f"the episode's row is not a HumanLLM row: {exc}", self.spec)
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "no answer found", **{"hit@5": 0.0, "top1": 0.0})
        ranking = extract_ranking(text, row)
        if ranking.letters is None:
            return self.invalid(agent, ranking.reason or "no answer found", **{"hit@5": 0.0, "top1": 0.0})
        gold = row.gold_letter
        listed = ",".join(ranking.letters)
        if gold not in ranking.letters:
            return self.ranked(
                agent, 0.0, {"hit@5": 0.0, "top1": 0.0}, f"ranked {listed}; gold {gold} not in it"
            )
        rank = ranking.letters.index(gold) + 1
        dims = {"rank": float(rank), "hit@5": 1.0, "top1": float(rank == 1)}
        return self.ranked(agent, 1.0 / rank, dims, f"ranked {listed}; gold {gold} at {rank}")

    def ranked(self, agent: str, score: float, dims: dict[str, float], reason: str) -> Judgment:
        """The judgment of a valid ranking."""
        return Judgment(
            agent=agent, score=score, dims={"valid": 1.0, **dims}, reasons={"answer": reason}, judge=self.spec
        )


def humanllm_judge() -> HumanLLMJudge:
    return HumanLLMJudge()


# -- sweep-level detector (docs/tasks.md#humanllm-detectors) -----------------------------------------
@dataclass(frozen=True)
class PositionBias:
    """How often rankings start with candidate A, and how often they just follow the candidate order."""

    n: int
    starts_with_a: float | None
    in_candidate_order: float | None


def position_bias(rankings: Sequence[Sequence[str]]) -> PositionBias:
    """Position bias over the valid rankings of a sweep: the share starting with ``A`` (chance: 1/20
    with twenty candidates) and the share whose letters are in increasing candidate order."""
    if not rankings:
        return PositionBias(0, None, None)
    starts = sum(r[0] == "A" for r in rankings) / len(rankings)
    ordered = sum(list(r) == sorted(r) for r in rankings) / len(rankings)
    return PositionBias(len(rankings), starts, ordered)
