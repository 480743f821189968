"""Composing judges: a ``Rubric`` (weighted components, detectors as penalties) and a ``Jury`` (k judges
aggregated by mean or median, with their disagreement recorded).

Both keep the no-invented-numbers rule: a failed component with a positive weight, or any failed jury
member, fails the combined judgment. A weight-0 component is logged in ``dims`` only; its failure is
recorded in ``reasons`` and does not fail the rubric. Detectors are rule detectors or model detectors (the
LLM ``hack_auditor``); a model detector that fails fails the rubric's judgment (never a "low" risk); an
agent a model detector does not audit (e.g. a partner that is not a policy under test) gets no flag from it.
``Rubric.audited(judge, detectors)`` is one task judge with its detectors: its score, dims and reasons
pass through unchanged (a task's documented dims stay where its docs say) and the detectors add flags.
Both judge whole episodes and single turns (``judge_turn``: every part judges the same turn).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from judges.detectors import Detector, Flag, attach_flags, run_detectors, run_turn_detectors
from judges.judgment import Judge, Judgment
from judges.llm import Aggregate, aggregate, disagreement
from judges.turns import judge_turn_batch, turn_prefix
from osim_env.aio import run_sync
from osim_env.episode import EpisodeRecord

Items = Sequence[tuple[EpisodeRecord, int]]


@runtime_checkable
class ModelDetector(Protocol):
    """A detector that is a judge (e.g. ``HackAuditor``): its judgments become flags via ``to_flag``."""

    name: str
    spec: dict[str, Any]

    async def judge_batch(self, episodes: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]: ...

    async def judge_turn_batch(self, items: Items) -> list[dict[str, Judgment]]: ...

    def to_flag(self, judgment: Judgment) -> Flag: ...


def _is_model_detector(cls: type) -> bool:
    return all(callable(getattr(cls, name, None)) for name in ("judge_batch", "judge_turn_batch", "to_flag"))


class Rubric:
    """Score = Σ w_i · s_i / Σ w_i over components with w_i > 0; components with weight 0 are logged.

    Each component's score lands in ``dims[name]`` and its dims in ``dims[f"{name}.{dim}"]`` (with
    ``prefix_dims=False``, a one-component rubric keeps its component's dims and reasons as they are).
    Attached detectors annotate ``flags``; with ``penalize_flags`` (training) the detector penalty is
    applied (docs/judges.md#detectors).
    """

    def __init__(
        self,
        components: Mapping[str, tuple[Judge, float]],
        *,
        detectors: Sequence[Detector | ModelDetector] = (),
        penalize_flags: bool = True,
        prefix_dims: bool = True,
    ) -> None:
        if not components:
            raise ValueError("a rubric needs at least one component")
        if any(w < 0 for _, w in components.values()):
            raise ValueError("weights must be >= 0")
        if not any(w > 0 for _, w in components.values()):
            raise ValueError("at least one component needs a positive weight")
        self.components = dict(components)
        self.rule_detectors = [d for d in detectors if isinstance(d, Detector)]
        self.model_detectors = [d for d in detectors if not isinstance(d, Detector)]
        # Checked on the class: an instance check would read ``spec``, which resolves a judge's model.
        if not all(_is_model_detector(type(d)) for d in self.model_detectors):
            raise TypeError("a detector is a judges.detectors.Detector or a ModelDetector (e.g. HackAuditor)")
        if not prefix_dims and len(components) != 1:
            raise ValueError("prefix_dims=False needs exactly one component (dims would collide)")
        self.detectors = list(detectors)
        self.penalize_flags = penalize_flags
        self.prefix_dims = prefix_dims

    @classmethod
    def audited(
        cls,
        judge: Judge,
        detectors: Sequence[Detector | ModelDetector],
        *,
        penalize_flags: bool = False,
        name: str = "task",
    ) -> Rubric:
        """``judge`` with ``detectors``: same score, dims and reasons, plus flags. Evaluation leaves the
        score alone (``penalize_flags=False``); training passes ``penalize_flags=True``."""
        return cls(
            {name: (judge, 1.0)}, detectors=detectors, penalize_flags=penalize_flags, prefix_dims=False
        )

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "kind": "rubric",
            "components": {n: {"judge": j.spec, "weight": w} for n, (j, w) in self.components.items()},
            "detectors": [d.name for d in self.detectors],
            "model_detectors": {d.name: d.spec for d in self.model_detectors},
            "penalize_flags": self.penalize_flags,
            **({} if self.prefix_dims else {"prefix_dims": False}),
        }

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        return run_sync(self.judge_batch([episode]))[0]

    def judge_turn(self, record: EpisodeRecord, event_index: int) -> dict[str, Judgment]:
        return run_sync(self.judge_turn_batch([(record, event_index)]))[0]

    async def judge_batch(self, episodes: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]:
        names = list(self.components)
        results, audits = await asyncio.gather(
            asyncio.gather(*(self.components[n][0].judge_batch(episodes) for n in names)),
            asyncio.gather(*(d.judge_batch(episodes) for d in self.model_detectors)),
        )
        out = []
        for i, episode in enumerate(episodes):
            per_component = {n: results[k][i] for k, n in enumerate(names)}
            agents = list(dict.fromkeys(a for r in per_component.values() for a in r))
            out.append(
                {
                    a: self._combine(
                        a,
                        per_component,
                        run_detectors(episode, a, self.rule_detectors),
                        [audit[i].get(a) for audit in audits],
                    )
                    for a in agents
                }
            )
        return out

    async def judge_turn_batch(self, items: Items) -> list[dict[str, Judgment]]:
        names = list(self.components)
        results, audits = await asyncio.gather(
            asyncio.gather(*(judge_turn_batch(self.components[n][0], items) for n in names)),
            asyncio.gather(*(d.judge_turn_batch(items) for d in self.model_detectors)),
        )
        out = []
        for i, (record, index) in enumerate(items):
            per_component = {n: results[k][i] for k, n in enumerate(names)}
            _, actor = turn_prefix(record, index)
            if not any(actor in r for r in per_component.values()):
                out.append({})
                continue
            flags = run_turn_detectors(record, index, self.rule_detectors)
            combined = self._combine(actor, per_component, flags, [audit[i].get(actor) for audit in audits])
            out.append({actor: combined.model_copy(update={"judge": {**combined.judge, "turn": index}})})
        return out

    def _combine(
        self,
        agent: str,
        parts: Mapping[str, Mapping[str, Judgment]],
        flags: Sequence[Flag],
        audits: Sequence[Judgment | None] = (),
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
            if self.prefix_dims:
                dims[name] = judgment.score
                dims.update({f"{name}.{k}": v for k, v in judgment.dims.items()})
                reasons.update({f"{name}.{k}": v for k, v in judgment.reasons.items()})
            else:
                dims.update(judgment.dims)
                reasons.update(judgment.reasons)
            if weight > 0:
                total += weight * judgment.score
                weight_sum += weight
        all_flags = list(flags)
        for detector, audit in zip(self.model_detectors, audits):
            if audit is None:  # this detector does not audit this agent
                continue
            if audit.error is not None:  # a failed audit is a judge failure, never "low"
                errors.append(f"{detector.name}: {audit.error}")
                continue
            all_flags.append(detector.to_flag(audit))
        if errors:
            combined = Judgment.failed(agent, "; ".join(errors), self.spec, dims=dims, reasons=reasons)
        else:
            combined = Judgment(
                agent=agent, score=total / weight_sum, dims=dims, reasons=reasons, judge=self.spec
            )
        if all_flags:
            combined = attach_flags(combined, all_flags, penalize=self.penalize_flags)
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

    def judge_turn(self, record: EpisodeRecord, event_index: int) -> dict[str, Judgment]:
        return run_sync(self.judge_turn_batch([(record, event_index)]))[0]

    async def judge_turn_batch(self, items: Items) -> list[dict[str, Judgment]]:
        results = await asyncio.gather(*(judge_turn_batch(j, items) for j in self.judges))
        out = []
        for i, (_, index) in enumerate(items):
            members = [r[i] for r in results]
            agents = list(dict.fromkeys(a for m in members for a in m))
            combined = {a: self._combine(a, [m.get(a) for m in members]) for a in agents}
            out.append(
                {a: j.model_copy(update={"judge": {**j.judge, "turn": index}}) for a, j in combined.items()}
            )
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
