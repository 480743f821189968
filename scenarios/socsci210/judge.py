"""The SocSci210 rule judge: normalized accuracy of a predicted survey answer (docs/tasks.md#socsci210).

Ordinal rows score ``1 - |pred - gold| / (r_max - r_min)``; binary and categorical rows score 1 iff the
prediction equals the gold. An answer off the row's scale is invalid (score 0), never clamped onto it:
clamping would give a nonsense answer partial credit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from judges.extraction import extract_answer
from judges.judgment import Judgment
from judges.rules import RuleJudge, final_text
from osim_env.episode import EpisodeRecord
from scenarios.socsci210.schema import SocSci210Row

_INTEGER = re.compile(r"^-?\d+$")
_BINARY = {"yes": 1, "no": 0, "1": 1, "0": 0}


@dataclass(frozen=True)
class Prediction:
    """The predicted scale point, or why the answer is invalid."""

    value: int | None
    reason: str | None = None


def extract_prediction(text: str, row: SocSci210Row) -> Prediction:
    """The last answer tag's content as a point of the row's scale (docs/tasks.md#socsci210)."""
    extraction = extract_answer(text)
    if not extraction.valid:
        return Prediction(None, extraction.reason)
    content = str(extraction.answer).strip()
    if row.response_type == "binary":
        if content.lower() not in _BINARY:
            return Prediction(None, "not yes/no")
        return Prediction(_BINARY[content.lower()])
    if not _INTEGER.match(content):
        return Prediction(None, "not an integer")
    value = int(content)
    low, high = row.scale
    if not low <= value <= high:
        return Prediction(None, "out of range")
    return Prediction(value)


def normalized_accuracy(pred: int, row: SocSci210Row) -> float:
    """``1 - |pred - gold| / (r_max - r_min)`` for ordinal rows, exact match otherwise."""
    if row.response_type != "ordinal":
        return float(pred == row.response)
    low, high = row.scale
    return 1.0 - abs(pred - row.response) / (high - low)


class SocSci210Judge(RuleJudge):
    """Normalized accuracy of the predicted answer; an invalid answer scores 0."""

    kind = "socsci210"

    def params(self) -> dict[str, Any]:
        return {"gold": "response", "ordinal": "1 - |pred - gold| / (r_max - r_min)", "other": "exact"}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        try:
            row = SocSci210Row.model_validate(record.scenario)
        except ValidationError as exc:
            return Judgment.failed(agent, f"the episode's row is not a SocSci210 row: {exc}", self.spec)
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "no answer found", gold=float(row.response))
        prediction = extract_prediction(text, row)
        if prediction.value is None:
            return self.invalid(agent, prediction.reason or "no answer found", gold=float(row.response))
        pred = prediction.value
        return Judgment(
            agent=agent,
            score=normalized_accuracy(pred, row),
            dims={
                "valid": 1.0,
                "pred": float(pred),
                "gold": float(row.response),
                "exact": float(pred == row.response),
            },
            reasons={"answer": f"answered {pred}, gold {row.response} on {row.scale[0]}..{row.scale[1]}"},
            judge=self.spec,
        )


def socsci210_judge() -> SocSci210Judge:
    return SocSci210Judge()


# -- sweep-level detectors (docs/tasks.md#socsci210-detectors) ---------------------------------------
@dataclass(frozen=True)
class AnswerPatterns:
    """How a set of predictions is spread: the share at the scale midpoint and whether it is constant."""

    n: int
    midpoint_share: float | None
    constant: bool
    most_common: int | None
    most_common_share: float | None


def answer_patterns(predictions: Sequence[tuple[int, SocSci210Row]]) -> AnswerPatterns:
    """Central tendency and constant answers over (prediction, row) pairs of a sweep.

    The midpoint share counts predictions on the middle point of their row's scale (rows whose scale
    has no middle point, e.g. 1..6, are left out of it; ``None`` when no row has one)."""
    if not predictions:
        return AnswerPatterns(0, None, False, None, None)
    with_middle = [(p, r) for p, r in predictions if (r.scale[0] + r.scale[1]) % 2 == 0]
    at_middle = sum(p == (r.scale[0] + r.scale[1]) // 2 for p, r in with_middle)
    counts = Counter(p for p, _ in predictions)
    value, count = counts.most_common(1)[0]
    return AnswerPatterns(
        n=len(predictions),
        midpoint_share=at_middle / len(with_middle) if with_middle else None,
        constant=len(counts) == 1 and len(predictions) > 1,
        most_common=value,
        most_common_share=count / len(predictions),
    )


def distributional_alignment(
    groups: dict[tuple[str | None, str | None, str | None], Sequence[tuple[int, SocSci210Row]]],
    min_rows: int = 5,
) -> float | None:
    """Mean over (study, condition, outcome) groups with at least ``min_rows`` rows of
    ``1 - W1(preds, golds) / (r_max - r_min)`` (docs/tasks.md#socsci210); None when no group is large
    enough. With one prediction per gold answer, W1 is the mean gap between the sorted lists."""
    values = []
    for items in groups.values():
        if len(items) < min_rows:
            continue
        preds = sorted(p for p, _ in items)
        golds = sorted(r.response for _, r in items)
        low, high = items[0][1].scale
        w1 = sum(abs(p - g) for p, g in zip(preds, golds)) / len(items)
        values.append(1.0 - w1 / (high - low))
    return sum(values) / len(values) if values else None
