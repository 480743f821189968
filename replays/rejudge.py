"""Re-judging stored episodes with another judge, without re-simulating them.

The stored ``EpisodeRecord`` is all a judge needs, so a new judge (another model, a new rubric, a
jury) can score a finished sweep after the fact. New judgments are written with origin ``rejudge``
and their own judge id, next to the run's own judgments; running the same judge again replaces its
earlier judgments instead of duplicating them. Failures are recorded as judgment errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from judges.judgment import Judgment
from osim_env.aio import run_sync
from osim_env.episode import EpisodeRecord
from replays.tables import CallRecord, JudgmentRow, judge_id

if TYPE_CHECKING:
    from replays.store import ReplayStore

JUDGEABLE = ("ok", "judge_error", "unjudged")


@dataclass
class RejudgeSummary:
    run_id: str
    judge_id: str
    episodes: int = 0
    judgments: int = 0
    errors: int = 0
    mean_score: float | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)


def _spec(judge: Any) -> dict[str, Any]:
    spec = getattr(judge, "spec", None)
    return dict(spec) if isinstance(spec, dict) else {"kind": type(judge).__name__}


async def _judge(judge: Any, records: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]:
    """Judgments per record; a batch that raises is retried per episode, a failing episode gets
    error judgments for its policy agents."""

    async def batch(rs: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]:
        if hasattr(judge, "judge_batch"):
            return [dict(j) for j in await judge.judge_batch(list(rs))]
        return [dict(await asyncio.to_thread(judge.judge_episode, r)) for r in rs]

    try:
        return await batch(records)
    except Exception:
        out = []
        for record in records:
            try:
                out.append((await batch([record]))[0])
            except Exception as exc:  # recorded as this episode's judgment error
                reason = f"judge failed: {type(exc).__name__}: {exc}"
                out.append({a: Judgment.failed(a, reason, _spec(judge)) for a in record.policy_agents})
        return out


def rejudge(
    store: ReplayStore,
    run_id: str,
    judge: Any,
    *,
    episode_ids: Iterable[str] | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> RejudgeSummary:
    """Judge the stored (non-failed) episodes of ``run_id`` with ``judge``; returns a summary."""
    spec = _spec(judge)
    summary = RejudgeSummary(run_id=run_id, judge_id=judge_id(spec))
    records = list(store.records(run_id, episode_ids=episode_ids, statuses=JUDGEABLE))
    scores: list[float] = []
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress()
        bar.start()
        task = bar.add_task("rejudging", total=len(records))
    try:
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            results = run_sync(_judge(judge, chunk))
            rows = [
                JudgmentRow(record.episode_id, "rejudge", j, spec)
                for record, judgments in zip(chunk, results)
                for j in judgments.values()
            ]
            store.write_judgments(run_id, rows)
            model = getattr(judge, "model", None)
            if callable(getattr(model, "pop_calls", None)):
                store.write_calls(run_id, [CallRecord.of(c, "judge") for c in model.pop_calls()])
            for record, judgments in zip(chunk, results):
                summary.episodes += 1
                for j in judgments.values():
                    summary.judgments += 1
                    if j.error:
                        summary.errors += 1
                        summary.failures.append((record.episode_id, j.error))
                    elif j.agent in record.policy_agents and j.score is not None:
                        scores.append(j.score)
            if bar is not None:
                bar.update(task, advance=len(chunk))
    finally:
        if bar is not None:
            bar.stop()
    summary.mean_score = sum(scores) / len(scores) if scores else None
    return summary
