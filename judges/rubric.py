"""Composing judges: a ``Rubric`` (weighted components, detectors as penalties) and a ``Jury`` (k judges
aggregated by mean or median, with their disagreement recorded).

Both keep the no-invented-numbers rule: a failed component with a positive weight, or any failed jury
member, fails the combined judgment. A weight-0 component is logged in ``dims`` only; its failure is
recorded in ``reasons`` and does not fail the rubric.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from judges.detectors import Detector, attach_flags, run_detectors
from judges.judgment import Judge, Judgment
from judges.llm import Aggregate, aggregate, disagreement, run_sync
from osim_env.episode import EpisodeRecord


class Rubric:
    """Score = Σ w_i · s_i / Σ w_i over components with w_i > 0; components with weight 0 are logged.

    Each component's score lands in ``dims[name]`` and its dims in ``dims[f"{name}.{dim}"]``. Attached
    detectors annotate ``flags``; with ``penalize_flags`` (training) the §1.6 penalty is applied.
    """

    def __init__(
        self,
        components: Mapping[str, tuple[Judge, float]],
        *,
        detectors: Sequence[Detector] = (),
        penalize_flags: bool = True,
    ) -> None:
        if not components:
            raise ValueError("a rubric needs at least one component")
        if any(w < 0 for _, w in components.values()):
            raise ValueError("weights must be >= 0")
        if not any(w > 0 for _, w in components.values()):
            raise ValueError("at least one component needs a positive weight")
        self.components = dict(components)
        self.detectors = list(detectors)
        self.penalize_flags = penalize_flags

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "kind": "rubric",
            "components": {n: {"judge": j.spec, "weight": w} for n, (j, w) in self.components.items()},
            "detectors": [d.name for d in self.detectors],
            "penalize_flags": self.penalize_flags,
        }

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        return run_sync(self.judge_batch([episode]))[0]

    async def judge_batch(self, episodes: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]:
        names = list(self.components)
        results = await asyncio.gather(*(self.components[n][0].judge_batch(episodes) for n in names))
        out = []
        for i, episode in enumerate(episodes):
            per_component = {n: results[k][i] for k, n in enumerate(names)}
            agents = list(dict.fromkeys(a for r in per_component.values() for a in r))
            out.append({a: self._combine(episode, a, per_component) for a in agents})
        return out

    def _combine(
        self, record: EpisodeRecord, agent: str, parts: Mapping[str, Mapping[str, Judgment]]
    ) -> Judgment:
        dims: dict[str, float] = {}
        reasons: dict[str, str] = {}
        errors: list[str] = []
        total, weight_sum = 0.0, 0.0
        for name, (_, weight) in self.components.items():
            judgment = parts[name].get(agent)
            if judgment is None or judgment.error is not None:
                why = "not judged" if judgment is None else judgment.error
                if weight > 0:
                    errors.append(f"{name}: {why}")
                else:
                    reasons[f"{name}.error"] = str(why)
                continue
            assert judgment.score is not None
            dims[name] = judgment.score
            dims.update({f"{name}.{k}": v for k, v in judgment.dims.items()})
            reasons.update({f"{name}.{k}": v for k, v in judgment.reasons.items()})
            if weight > 0:
                total += weight * judgment.score
                weight_sum += weight
        if errors:
            combined = Judgment.failed(agent, "; ".join(errors), self.spec, dims=dims, reasons=reasons)
        else:
            combined = Judgment(
                agent=agent, score=total / weight_sum, dims=dims, reasons=reasons, judge=self.spec
            )
        if self.detectors:
            combined = attach_flags(
                combined, run_detectors(record, agent, self.detectors), penalize=self.penalize_flags
            )
        return combined


class Jury:
    """k judges of the same episode, aggregated per agent by mean or median.

    ``dims`` hold each member's score (``juror{i}``) and the disagreement (``jury_std``, ``jury_range``);
    for k samples of one LLM judge use its ``samples=`` instead (the same aggregation, one prompt).
    """

    def __init__(self, judges: Sequence[Judge], *, aggregate: Aggregate = "mean") -> None:
        if len(judges) < 2:
            raise ValueError("a jury needs at least two judges")
        if aggregate not in ("mean", "median"):
            raise ValueError("aggregate must be 'mean' or 'median'")
        self.judges = list(judges)
        self.aggregate = aggregate

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": "jury", "aggregate": self.aggregate, "judges": [j.spec for j in self.judges]}

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        return run_sync(self.judge_batch([episode]))[0]

    async def judge_batch(self, episodes: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]:
        results = await asyncio.gather(*(j.judge_batch(episodes) for j in self.judges))
        out = []
        for i in range(len(episodes)):
            members = [r[i] for r in results]
            agents = list(dict.fromkeys(a for m in members for a in m))
            out.append({a: self._combine(a, [m.get(a) for m in members]) for a in agents})
        return out

    def _combine(self, agent: str, members: Sequence[Judgment | None]) -> Judgment:
        errors = [
            f"juror{k}: {'not judged' if m is None else m.error}"
            for k, m in enumerate(members)
            if m is None or m.error is not None
        ]
        dims = {f"juror{k}": m.score for k, m in enumerate(members) if m is not None and m.score is not None}
        if errors:
            return Judgment.failed(agent, "; ".join(errors), self.spec, dims=dims)
        scores = [m.score for m in members if m is not None and m.score is not None]
        spread = disagreement(scores)
        dims.update(jury_std=spread["std"], jury_range=spread["range"])
        reasons = {f"juror{k}.{n}": r for k, m in enumerate(members) if m for n, r in m.reasons.items()}
        return Judgment(
            agent=agent, score=aggregate(scores, self.aggregate), dims=dims, reasons=reasons, judge=self.spec
        )
