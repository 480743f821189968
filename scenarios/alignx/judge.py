"""AlignX's rule judge, the A/B position, and the sweep reports (docs/tasks.md#alignx).

The chosen response's position is fixed per scenario id (``judges.soul_index.ab_flip``), not by the
episode seed, so every model sees the same order for a row; option ``order`` forces it. Each judgment
records where the gold was and what was answered, so the position-bias report can be computed from
stored judgments alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from judges.extraction import extract_answer
from judges.judgment import Judgment
from judges.rules import RuleJudge, final_text
from judges.soul_index import ab_flip
from osim_env.episode import EpisodeRecord
from scenarios.alignx.schema import DATA_SOURCE, variant_of


def chosen_letter(scenario_id: str, order: str | None = None) -> str:
    """Where the chosen response is shown: ``order`` when forced, else from the scenario id."""
    if order is not None:
        return order
    return "B" if ab_flip(scenario_id) else "A"


class AlignXJudge(RuleJudge):
    """1 iff the answered letter is the chosen response's letter; invalid answers score 0."""

    kind = "alignx"

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        gold = chosen_letter(record.scenario_id, record.options.get("order"))
        position = {"gold_is_a": float(gold == "A")}
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "no answer found", **position)
        extraction = extract_answer(text, n_options=2)
        if not extraction.valid:
            return self.invalid(agent, extraction.reason or "no answer found", **position)
        judgment = self.verdict(
            agent, extraction.answer == gold, f"answered {extraction.answer}, chosen is {gold}"
        )
        dims = {**judgment.dims, **position, "answered_a": float(extraction.answer == "A")}
        return judgment.model_copy(update={"dims": dims})


def position_bias(judgments: Iterable[Judgment]) -> dict[str, float | None]:
    """Share of ``A`` among valid answers and accuracy split by the gold position, over judged episodes
    (errors left out). A constant-letter policy shows ``share_a`` 0 or 1 and accuracies 1 and 0."""
    valid = [j for j in judgments if j.error is None and j.dims.get("valid") == 1.0]
    gold_a = [j.score for j in judgments if j.error is None and j.dims.get("gold_is_a") == 1.0]
    gold_b = [j.score for j in judgments if j.error is None and j.dims.get("gold_is_a") == 0.0]
    return {
        "share_a": sum(j.dims["answered_a"] for j in valid) / len(valid) if valid else None,
        "accuracy_gold_a": sum(gold_a) / len(gold_a) if gold_a else None,  # type: ignore[arg-type]
        "accuracy_gold_b": sum(gold_b) / len(gold_b) if gold_b else None,  # type: ignore[arg-type]
    }


def variant_scores(results: Iterable[tuple[Mapping[str, Any], float]]) -> dict[str, float]:
    """Accuracy per variant from ``(row, score)`` pairs of non-error episodes, and the task score
    ``mean``: the unweighted mean over the variants present (docs/tasks.md#alignx)."""
    by_variant: dict[str, list[float]] = defaultdict(list)
    for row, score in results:
        by_variant[variant_of(str(row.get("data_source", DATA_SOURCE)))].append(score)
    if not by_variant:
        raise ValueError("variant_scores needs at least one judged episode")
    scores = {variant: sum(s) / len(s) for variant, s in sorted(by_variant.items())}
    return {**scores, "mean": sum(scores.values()) / len(scores)}


def alignx_judge() -> AlignXJudge:
    return AlignXJudge()
