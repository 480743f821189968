"""The Ray executor of sweeps: episodes sharded over a Ray cluster, one writer for the store.

The driver registers the run exactly as the local runner does (same run id, same resume rule: episodes
already stored are skipped), splits the remaining jobs into shards of ``shard_size`` episodes and
submits one Ray task per shard. A worker runs its shard with the ordinary runner (same policies, same
judges, same batching), but instead of writing it returns the finished episodes; results stream back
as shards finish and the driver alone writes them to DuckDB, in batches through the usual
``ReplayStore.write`` (first write wins, never a duplicate). A killed driver therefore loses at most
its unflushed buffer, and the same command resumes (README "Sweeps and the leaderboard").

Policies and roles must be spec strings (a worker builds its own instances and keeps them, with the
judges, for the next shard it runs). The judge cache is the driver's only: DuckDB has one writer, so
workers judge without it. ``ray`` is the optional extra ``[ray]``; it is imported only here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from osim.runner import EpisodeJob, Runner, SweepSummary, _Progress, _Sweep
from osim_env.registration import make
from replays.tables import CallRecord, EpisodeResult


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to build the same runner as the driver (all picklable)."""

    policy: str | None
    roles: tuple[tuple[str, str], ...]
    judge_enabled: bool
    run_id: str
    concurrency: int


class ShardRunner(Runner):
    """The runner as it is, except that finished episodes are handed back instead of stored: its
    ``_start`` knows no store (the driver already skipped stored episodes) and its ``_flush`` collects."""

    def __init__(self, config: WorkerConfig) -> None:
        super().__init__(
            ":driver-writes:",
            policy=config.policy,
            roles=dict(config.roles),
            judge=None if config.judge_enabled else False,
            concurrency=config.concurrency,
            run_id=config.run_id,
            progress=False,
        )
        self.results: list[EpisodeResult] = []
        self.calls: list[CallRecord] = []

    async def arun(self, jobs: Any) -> SweepSummary:
        return await self._sweep(list(jobs))

    def _start(self, jobs: list[EpisodeJob]) -> _Sweep:
        summary = SweepSummary(run_id=str(self.run_id), store="", total=len(jobs))
        return _Sweep(
            queue=list(reversed(jobs)), done=set(), summary=summary, progress=_Progress(0, enabled=False)
        )

    def _flush(self, summary: SweepSummary) -> None:
        self.results.extend(self._pending)
        self.calls.extend(self._orphan_calls)
        self._pending, self._orphan_calls = [], []

    def take(self) -> tuple[list[EpisodeResult], list[CallRecord]]:
        out = (self.results, self.calls)
        self.results, self.calls = [], []
        return out


_WORKER_RUNNERS: dict[WorkerConfig, ShardRunner] = {}  # per worker process: models stay loaded


def run_shard(
    config: WorkerConfig, jobs: Sequence[EpisodeJob]
) -> tuple[list[EpisodeResult], list[CallRecord]]:
    """Run one shard on a worker and return its finished episodes (and batch-level model calls)."""
    runner = _WORKER_RUNNERS.get(config)
    if runner is None:
        runner = _WORKER_RUNNERS[config] = ShardRunner(config)
    runner.run(jobs)
    return runner.take()


class RayRunner(Runner):
    """A ``Runner`` whose episodes run on a Ray cluster (``address``; None starts a local one, or uses
    the cluster this process is already connected to). Results are stored as they stream back."""

    def __init__(
        self,
        store: Any,
        *,
        policy: str | None = None,
        roles: Mapping[str, str] | None = None,
        address: str | None = None,
        shard_size: int = 8,
        **kw: Any,
    ) -> None:
        specs = [policy, *(roles or {}).values()]
        if any(p is not None and not isinstance(p, str) for p in specs):
            raise TypeError("the Ray executor takes policies as spec strings (each worker builds its own)")
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        super().__init__(store, policy=policy, roles=roles, **kw)
        self.policy_spec = policy
        self.role_specs = tuple(sorted((roles or {}).items()))
        self.address = address
        self.shard_size = shard_size

    async def _sweep(self, jobs: list[EpisodeJob]) -> SweepSummary:
        import ray

        state = self._start(jobs)
        pending = self._not_stored(state, jobs)
        started_ray = not ray.is_initialized()
        if started_ray and pending:
            ray.init(
                address=self.address, include_dashboard=False, log_to_driver=False, configure_logging=False
            )
        try:
            with state.progress:
                try:
                    self._stream(state, pending)
                finally:
                    self._flush(state.summary)  # finished episodes are stored even when interrupted
        finally:
            if started_ray and ray.is_initialized():
                ray.shutdown()
        state.summary.wall_s = time.perf_counter() - state.start
        return state.summary

    def _not_stored(self, state: _Sweep, jobs: list[EpisodeJob]) -> list[EpisodeJob]:
        """The jobs whose episodes the store does not hold yet (one per episode id)."""
        pending = []
        for job in jobs:
            env = make(job.env_id, scenario=job.scenario, judge=False, **dict(job.options))
            env.reset(seed=job.seed)
            episode_id = env.unwrapped.episode_id
            env.close()
            if episode_id in state.done or episode_id in state.seen:
                state.summary.skipped += 1
                continue
            state.seen.add(episode_id)
            pending.append(job)
        state.tick()
        return pending

    def _stream(self, state: _Sweep, pending: list[EpisodeJob]) -> None:
        """Submit one task per shard; store each shard's episodes as it comes back."""
        if not pending:
            return
        import ray

        config = WorkerConfig(
            policy=self.policy_spec,
            roles=self.role_specs,
            judge_enabled=self.judge is not False,
            run_id=str(self.run_id),
            concurrency=self.concurrency,
        )
        remote = ray.remote(run_shard)
        shards = [pending[i : i + self.shard_size] for i in range(0, len(pending), self.shard_size)]
        waiting = [remote.remote(config, shard) for shard in shards]
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            results, calls = ray.get(ready[0])
            self._orphan_calls.extend(calls)
            for result in results:
                state.summary.count(result.final_status)
                if result.reason and result.final_status in ("failed", "judge_error"):
                    state.summary.failures.append((result.episode_id, result.reason))
                state.summary.judge_s += result.judge_s or 0.0
                self._buffer(result, state.summary)
                state.tick()
