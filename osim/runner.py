"""The async rollout runner: many episodes at once, model calls batched, every episode stored.

The runner keeps ``concurrency`` envs live. Each round it gathers the pending turn of every live env,
groups the turns by the policy that plays them and calls ``act_batch`` once per group (the groups run
concurrently), then steps the envs. Auxiliary roles are played by their scenario's default policies
(or ``roles=`` overrides). Finished episodes are judged concurrently with the stepping, batched per
judge, and written to the replay store in one transaction per batch.

Failures stay with their episode: a policy call that still fails after its retries ends that episode
as ``failed`` with the reason (nothing is inserted into the conversation); a judge that fails marks it
``judge_error``. The sweep goes on. Episode ids are deterministic (env, scenario, seed) and the run id
is a hash of the configuration, so a killed sweep restarted with the same arguments skips what it
stored and loses nothing.

The runner is part of the application layer: it imports policies, judges and the replay store
directly (``osim_env`` below it imports none of them).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judges.cache import JudgeCache
from judges.judgment import Judgment
from osim.defaults import with_app_defaults
from osim.judge_cache import use_cache
from osim_env.aio import run_sync
from osim_env.registration import make
from osim_env.thinking import strip_thinking
from policies.base import ChatRequest, Policy, messages_of
from policies.spec import parse_spec
from replays.replay import observation_digest
from replays.store import ReplayStore
from replays.tables import CallRecord, EpisodeResult, utcnow

PolicyLike = Any  # a policies.Policy, an object with ``act_batch``, a callable obs -> str, or a spec string


@dataclass(frozen=True)
class EpisodeJob:
    """One episode to run: env id, seed, scenario (index, row dict or None: the env draws one) and
    env options."""

    env_id: str
    seed: int
    scenario: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)


def jobs_for(
    env_id: str,
    episodes: int,
    *,
    seed: int = 0,
    scenarios: Sequence[Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[EpisodeJob]:
    """``episodes`` jobs with seeds ``seed, seed+1, ...``; scenarios cycle when given, else the env
    draws a fixture row from its seed."""
    if episodes < 0:
        raise ValueError(f"episodes must be >= 0, got {episodes}")
    return [
        EpisodeJob(
            env_id,
            seed + i,
            None if not scenarios else scenarios[i % len(scenarios)],
            dict(options or {}),
        )
        for i in range(episodes)
    ]


@dataclass
class SweepSummary:
    run_id: str
    store: str
    total: int = 0
    skipped: int = 0
    ok: int = 0
    failed: int = 0
    judge_error: int = 0
    unjudged: int = 0
    wall_s: float = 0.0
    store_s: float = 0.0
    act_s: float = 0.0
    judge_s: float = 0.0
    batches: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (episode id, reason)

    @property
    def finished(self) -> int:
        return self.ok + self.failed + self.judge_error + self.unjudged

    @property
    def store_share(self) -> float:
        return self.store_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def episodes_per_s(self) -> float:
        return self.finished / self.wall_s if self.wall_s > 0 else 0.0

    def count(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


def policy_spec(policy: Any) -> dict[str, Any]:
    """The JSON spec stored for a policy (``Policy.spec``, or a description of a plain callable)."""
    spec = getattr(policy, "spec", None)
    if spec is not None and hasattr(spec, "model_dump"):
        return spec.model_dump(mode="json")
    if isinstance(spec, Mapping):
        return dict(spec)
    return {"backend": "callable", "model": getattr(policy, "__qualname__", type(policy).__name__)}


def judge_spec(judge: Any) -> dict[str, Any]:
    spec = getattr(judge, "spec", None)
    if isinstance(spec, Mapping):
        return dict(spec)
    return {"kind": type(judge).__name__}


class _CallablePolicy:
    """Adapts a plain ``obs -> str`` callable (or an object with a sync ``act``) to ``act_batch``."""

    def __init__(self, fn: Callable[[Mapping[str, Any]], str]) -> None:
        self.fn = getattr(fn, "act", fn)
        self.spec = policy_spec(fn)

    async def act_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.fn(o) for o in observations]


@dataclass
class _Live:
    """A running episode and what the runner records about it."""

    job: EpisodeJob
    env: Any
    policies: dict[str, Any]
    started_at: Any
    observations: dict[int, str] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    reason: str | None = None

    @property
    def unwrapped(self) -> Any:
        """The task env under PettingZoo's wrappers (status, log, episode record)."""
        return self.env.unwrapped

    @property
    def running(self) -> bool:
        return self.unwrapped.status == "running"


# A finished, judged episode on its way to the store: (episode, status, reason, judgments, judge_s).
Judged = tuple[_Live, str, "str | None", Mapping[str, Any], "float | None"]


@dataclass
class _Sweep:
    """The state of one sweep: jobs not started, episodes running, finished episodes waiting for
    (or being) judged, and the counts so far."""

    queue: list[EpisodeJob]
    done: set[str]
    summary: SweepSummary
    progress: _Progress
    start: float = field(default_factory=time.perf_counter)
    seen: set[str] = field(default_factory=set)
    live: list[_Live] = field(default_factory=list)
    to_judge: dict[int, tuple[Any, list[_Live]]] = field(default_factory=dict)
    judging: set[asyncio.Task] = field(default_factory=set)

    @property
    def busy(self) -> bool:
        return bool(self.queue or self.live or self.to_judge or self.judging)

    @property
    def draining(self) -> bool:
        """Nothing is left to start or step: only judging remains."""
        return not self.queue and not self.live

    def tick(self) -> None:
        self.progress.update(self.summary, time.perf_counter() - self.start)


class Runner:
    """Runs episode jobs concurrently and stores every finished episode.

    ``policy`` plays the policy agents of every env (the trained / evaluated roles); ``roles`` maps a
    role name to a policy for that role (overriding both ``policy`` and task defaults); other
    auxiliary roles get their task's default policy spec. Policies may be ``Policy`` objects or
    spec strings (``policies.parse_spec``); one instance is built per distinct spec.

    ``judge``: ``None`` uses each env's default judge (built once per env id and options), ``False``
    stores episodes unjudged, any judge object (``judge_batch`` / ``judge_episode``) judges all.
    ``judge_cache``: a ``JudgeCache`` handed to every judge the runner uses (and their member judges).
    """

    def __init__(
        self,
        store: ReplayStore | str | Path,
        *,
        policy: PolicyLike | None = None,
        roles: Mapping[str, PolicyLike] | None = None,
        judge: Any = None,
        concurrency: int = 64,
        write_batch: int = 32,
        judge_batch: int = 32,
        run_id: str | None = None,
        config: Mapping[str, Any] | None = None,
        retry_failed: bool = False,
        progress: bool = True,
        on_flush: Callable[[int], None] | None = None,
        judge_cache: JudgeCache | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self._store_arg = store
        self.store: ReplayStore | None = None
        self.concurrency = concurrency
        self.write_batch = max(1, write_batch)
        self.judge_batch = max(1, judge_batch)
        self.run_id = run_id
        self.extra_config = dict(config or {})
        self.retry_failed = retry_failed
        self.progress = progress
        self.on_flush = on_flush
        self.judge = judge
        self.judge_cache = judge_cache
        use_cache(judge, judge_cache)
        self._specs: dict[str, Any] = {}  # spec string -> policy instance
        self.policy = None if policy is None else self._resolve(policy)
        self.roles = {role: self._resolve(p) for role, p in (roles or {}).items()}
        self._judges: dict[str, Any] = {}
        self._orphan_calls: list[CallRecord] = []
        self._pending: list[EpisodeResult] = []

    # -- configuration ------------------------------------------------------------------------------
    def _resolve(self, policy: PolicyLike) -> Any:
        if isinstance(policy, str):
            if policy not in self._specs:
                self._specs[policy] = parse_spec(policy)
            return self._specs[policy]
        if hasattr(policy, "act_batch"):
            return policy
        if callable(policy) or hasattr(policy, "act"):
            return _CallablePolicy(policy)
        raise TypeError(
            f"a policy must be a Policy, a spec string or a callable, got {type(policy).__name__}"
        )

    def _policies_for(self, env: Any) -> dict[str, Any]:
        defaults = env.default_policies()
        out: dict[str, Any] = {}
        for agent in env.possible_agents:
            if agent in self.roles:
                out[agent] = self.roles[agent]
            elif agent in env.policy_agents() and self.policy is not None:
                out[agent] = self.policy
            elif agent in defaults:
                out[agent] = self._resolve(defaults[agent])
            elif self.policy is not None:
                out[agent] = self.policy
            else:
                raise ValueError(f"{env.env_id}: no policy for role {agent!r}; pass policy= or roles={{...}}")
        return out

    def _judge_for(self, env: Any) -> Any:
        if self.judge is False:
            return None
        if self.judge is not None:
            return self.judge
        key = json.dumps([env.env_id, env.options], sort_keys=True, default=str)
        if key not in self._judges:
            self._judges[key] = env.default_judge()
            use_cache(self._judges[key], self.judge_cache)
        return self._judges[key]

    def _judge_specs(self, jobs: Sequence[EpisodeJob]) -> dict[str, Any]:
        """The spec of the judge that scores each env of the run (its model included), for the runs
        table: the run's config says only "env default", which is what identifies the run."""
        specs: dict[str, Any] = {}
        for env_id, options in sorted(
            {(j.env_id, json.dumps(dict(j.options), sort_keys=True)) for j in jobs}
        ):
            judge = self._judge_for(make(env_id, judge=False, **json.loads(options)).unwrapped)
            specs.setdefault(env_id, []).append(None if judge is None else judge_spec(judge))
        return {env_id: found[0] if len(found) == 1 else found for env_id, found in specs.items()}

    def config(self, jobs: Sequence[EpisodeJob]) -> dict[str, Any]:
        """What identifies the run: envs and options, policies and the judge (not seeds or counts,
        so a longer sweep with the same settings extends the same run)."""
        envs = sorted({json.dumps([j.env_id, dict(j.options)], sort_keys=True, default=str) for j in jobs})
        judge = (
            "none"
            if self.judge is False
            else ("env default" if self.judge is None else judge_spec(self.judge))
        )
        return {
            "envs": [json.loads(e) for e in envs],
            "policy": None if self.policy is None else policy_spec(self.policy),
            "roles": {r: policy_spec(p) for r, p in sorted(self.roles.items())},
            "judge": judge,
            **self.extra_config,
        }

    # -- running ------------------------------------------------------------------------------------
    def run(self, jobs: Iterable[EpisodeJob]) -> SweepSummary:
        """Run ``jobs`` to completion (sync entry point)."""
        return run_sync(self.arun(jobs))

    async def arun(self, jobs: Iterable[EpisodeJob]) -> SweepSummary:
        jobs = [with_app_defaults(job) for job in jobs]
        own_store = not isinstance(self._store_arg, ReplayStore)
        self.store = ReplayStore(self._store_arg) if own_store else self._store_arg  # type: ignore[assignment]
        assert self.store is not None
        try:
            return await self._sweep(jobs)
        finally:
            if own_store:
                self.store.close()

    async def _sweep(self, jobs: list[EpisodeJob]) -> SweepSummary:
        """Until every job is stored: admit jobs, step a round, hand finished episodes to their
        judges, collect judged ones (each finished episode is buffered, and written in batches)."""
        state = self._start(jobs)
        with state.progress:
            try:
                while state.busy:
                    self._admit(state)
                    if state.live:
                        await self._step_round(state)
                    self._dispatch_judging(state)
                    if state.judging:
                        await self._collect_judged(state)
                    elif state.live:
                        await asyncio.sleep(0)
            finally:
                # Finished episodes are complete: store them even when the sweep is interrupted.
                self._flush(state.summary)
        state.summary.wall_s = time.perf_counter() - state.start
        return state.summary

    def _start(self, jobs: list[EpisodeJob]) -> _Sweep:
        """Register the run (or find it again) and what it has already stored."""
        store = self.store
        assert store is not None
        config = self.config(jobs)
        self.run_id = store.start_run(
            config,
            policies={"policy": config["policy"], "roles": config["roles"]},
            judges={"judge": config["judge"], "by_env": self._judge_specs(jobs)},
            run_id=self.run_id,
        )
        done = store.finished_ids(self.run_id)
        if self.retry_failed:
            done -= set(store.episodes(self.run_id, status="failed")["episode_id"])
        summary = SweepSummary(run_id=self.run_id, store=str(store.path), total=len(jobs))
        progress = _Progress(len(jobs), enabled=self.progress)
        return _Sweep(queue=list(reversed(jobs)), done=done, summary=summary, progress=progress)

    def _admit(self, state: _Sweep) -> None:
        """Start jobs until ``concurrency`` episodes run; skip episodes the store already holds."""
        while state.queue and len(state.live) < self.concurrency:
            job = state.queue.pop()
            env = make(job.env_id, scenario=job.scenario, judge=False, **dict(job.options))
            env.reset(seed=job.seed)
            episode_id = env.unwrapped.episode_id
            if episode_id in state.done or episode_id in state.seen:
                state.summary.skipped += 1
                env.close()
                state.tick()
                continue
            state.seen.add(episode_id)
            state.live.append(_Live(job, env, self._policies_for(env.unwrapped), utcnow()))

    async def _step_round(self, state: _Sweep) -> None:
        """One action in every live episode; finished ones are stored (failed), queued for their
        judge, or stored unjudged."""
        t0 = time.perf_counter()
        await self._step_all(state.live)
        state.summary.act_s += time.perf_counter() - t0
        still: list[_Live] = []
        for item in state.live:
            if item.running:
                still.append(item)
            elif item.unwrapped.status == "failed":
                self._finish(state, (item, "failed", item.reason or item.unwrapped.termination, {}, None))
            elif (judge := self._judge_for(item.unwrapped)) is None:
                self._finish(state, (item, "unjudged", None, {}, None))
            else:
                state.to_judge.setdefault(id(judge), (judge, []))[1].append(item)
        state.live = still

    def _dispatch_judging(self, state: _Sweep) -> None:
        """Start a judging task per full batch of finished episodes (per judge); once nothing is left
        to step, also for the partial batches."""
        for key in list(state.to_judge):
            judge, items = state.to_judge[key]
            while len(items) >= self.judge_batch or (items and state.draining):
                batch, items[:] = items[: self.judge_batch], items[self.judge_batch :]
                state.judging.add(asyncio.ensure_future(self._judge_group(judge, batch)))
            if not items:
                del state.to_judge[key]

    async def _collect_judged(self, state: _Sweep) -> None:
        """Store the episodes of judging tasks that are done (waiting for one only when nothing is
        left to step)."""
        finished, state.judging = await asyncio.wait(
            state.judging, timeout=None if state.draining else 0, return_when=asyncio.FIRST_COMPLETED
        )
        for task in finished:
            for judged in task.result():
                state.summary.judge_s += judged[4] or 0.0
                self._finish(state, judged)

    def _finish(self, state: _Sweep, judged: Judged) -> None:
        """A finished episode becomes an ``EpisodeResult`` in the write buffer."""
        item, status, reason, judgments, judge_s = judged
        result = EpisodeResult(
            record=item.unwrapped.episode_record(),
            status=status,
            reason=reason,
            judgments=dict(judgments),
            policies={a: policy_spec(p) for a, p in item.policies.items()},
            calls=list(item.calls),
            observations=dict(item.observations),
            started_at=item.started_at,
            finished_at=utcnow(),
            judge_s=judge_s,
        )
        item.env.close()
        state.summary.count(status)
        if reason and status in ("failed", "judge_error"):
            state.summary.failures.append((result.episode_id, reason))
        self._buffer(result, state.summary)
        state.tick()

    async def _step_all(self, live: list[_Live]) -> None:
        """One round: every live env's pending turn, one ``act_batch`` per policy."""
        groups: dict[int, tuple[Any, list[tuple[_Live, str, dict[str, Any]]]]] = {}
        for item in live:
            agent = item.env.agent_selection
            observation = item.env.observe(agent)
            policy = item.policies[agent]
            groups.setdefault(id(policy), (policy, []))[1].append((item, agent, observation))
        outcomes = await asyncio.gather(
            *(self._act_group(policy, turns) for policy, turns in groups.values())
        )
        for (_, turns), actions in zip(groups.values(), outcomes):
            for (item, _agent, observation), (action, error) in zip(turns, actions):
                if error is not None:
                    item.reason = error
                    item.unwrapped.abort(error)
                    continue
                item.observations[len(item.unwrapped.log)] = observation_digest(observation)
                item.env.step(action)

    async def _act_group(
        self, policy: Any, turns: list[tuple[_Live, str, dict[str, Any]]]
    ) -> list[tuple[str | None, str | None]]:
        """(action, error) per turn: one ``act_batch`` for the whole group. When a batch fails, only
        the turns that failed cost their episodes: a ``BatchPolicyError`` says which, any other
        failure is retried turn by turn."""
        try:
            actions = await _generate(policy, [obs for _, _, obs in turns])
            if len(actions) != len(turns):
                raise RuntimeError(f"act_batch returned {len(actions)} actions for {len(turns)} observations")
        except Exception as exc:
            self._attribute_calls(policy, turns)
            partial = _partial_actions(policy, exc, len(turns))
            if partial is not None:
                return [
                    (action, None if action is not None else _failure_reason(policy, agent, error))
                    for (_, agent, _), (action, error) in zip(turns, partial)
                ]
            if len(turns) == 1:
                return [(None, _failure_reason(policy, turns[0][1], exc))]
        else:
            self._attribute_calls(policy, turns)
            return [(a, None) for a in actions]
        out: list[tuple[str | None, str | None]] = []
        for turn in turns:  # one by one, so that each call is attributed to its episode
            out.extend(await self._act_group(policy, [turn]))
        return out

    def _attribute_calls(self, policy: Any, turns: Sequence[tuple[_Live, str, Any]]) -> None:
        pop = getattr(policy, "pop_calls", None)
        if pop is None:
            return
        calls = pop()
        if turns and len(calls) == len(turns):
            for call, (item, agent, _) in zip(calls, turns):
                item.calls.append(
                    CallRecord.of(call, "act", role=agent, episode_id=item.unwrapped.episode_id)
                )
        else:
            self._orphan_calls.extend(CallRecord.of(c, "act") for c in calls)

    async def _judge_group(self, judge: Any, items: list[_Live]) -> list[Judged]:
        """Judge a batch of finished episodes; an exception is retried per episode, then recorded as
        that episode's judge error (never a score)."""
        records = [item.unwrapped.episode_record() for item in items]
        t0 = time.perf_counter()
        try:
            batches = await _judge_batch(judge, records)
        except Exception:
            batches = [await self._judge_one(judge, record) for record in records]
        per_episode_s = (time.perf_counter() - t0) / max(1, len(items))
        self._judge_calls(judge)
        out: list[Judged] = []
        for item, judgments in zip(items, batches):
            errors = [j.error for j in judgments.values() if getattr(j, "error", None)]
            status = "judge_error" if errors or not judgments else "ok"
            reason = errors[0] if errors else (None if judgments else "the judge returned no judgments")
            out.append((item, status, reason, judgments, per_episode_s))
        return out

    async def _judge_one(self, judge: Any, record: Any) -> dict[str, Any]:
        """One episode's judgments; a judge that raises gives each judged agent a failed judgment."""
        try:
            return (await _judge_batch(judge, [record]))[0]
        except Exception as exc:
            kind = judge_spec(judge).get("kind", type(judge).__name__)
            reason = f"judge {kind} failed: {_exc_text(exc)}"
            return {a: Judgment.failed(a, reason, judge_spec(judge)) for a in record.policy_agents}

    def _judge_calls(self, judge: Any) -> None:
        model = getattr(judge, "model", None)
        pop = getattr(model, "pop_calls", None)
        if callable(pop):
            self._orphan_calls.extend(CallRecord.of(c, "judge") for c in pop())

    # -- storing ------------------------------------------------------------------------------------
    def _buffer(self, result: EpisodeResult, summary: SweepSummary) -> None:
        self._pending.append(result)
        if len(self._pending) >= self.write_batch:
            self._flush(summary)

    def _flush(self, summary: SweepSummary) -> None:
        if not self._pending and not self._orphan_calls:
            return
        assert self.store is not None and self.run_id is not None
        batch, self._pending = self._pending, []
        calls, self._orphan_calls = self._orphan_calls, []
        t0 = time.perf_counter()
        written = self.store.write(self.run_id, batch, replace=self.retry_failed, calls=calls)
        summary.store_s += time.perf_counter() - t0
        summary.batches += 1
        if self.on_flush is not None and written:
            self.on_flush(written)


async def _judge_batch(judge: Any, records: list[Any]) -> list[dict[str, Any]]:
    if hasattr(judge, "judge_batch"):
        return [dict(j) for j in await judge.judge_batch(records)]
    if hasattr(judge, "judge_episode"):
        return [dict(await asyncio.to_thread(judge.judge_episode, r)) for r in records]
    return [dict(await asyncio.to_thread(judge, r)) for r in records]


async def _generate(policy: Any, observations: list[dict[str, Any]]) -> list[str]:
    """Action strings for ``observations``. For a ``policies.Policy`` the completions are asked for
    directly so that the model's thinking reaches the env (which strips it from what others see and
    keeps it in the event payload); any other object is asked through ``act_batch``."""
    if not isinstance(policy, Policy):
        return list(await policy.act_batch(observations))
    completions = await policy.complete_batch([ChatRequest(messages=messages_of(o)) for o in observations])
    return [_action_of(c) for c in completions]


def _action_of(completion: Any) -> str:
    """The action string of a completion: its visible text, with its thinking as a think block."""
    if not completion.thinking:
        return completion.text
    visible, thinking, _ = strip_thinking(completion.raw)
    if visible == completion.text and thinking == completion.thinking:
        return completion.raw
    return f"<think>{completion.thinking}</think>{completion.text}"


def _partial_actions(policy: Any, exc: BaseException, n: int) -> list[tuple[str | None, Any]] | None:
    """(action, error) per request from a ``BatchPolicyError`` (some requests succeeded), else None."""
    failures = getattr(exc, "failures", None)
    completions = getattr(exc, "completions", None)
    if not isinstance(failures, Mapping) or completions is None or len(completions) != n:
        return None
    out: list[tuple[str | None, Any]] = []
    for i, c in enumerate(completions):
        if i in failures or c is None:
            out.append((None, failures.get(i, exc)))
            continue
        if getattr(policy, "strip_think", True) and not c.thinking:
            visible, thinking, _ = strip_thinking(c.raw)  # what ``complete_batch`` would have done
            c = c.model_copy(update={"text": visible, "thinking": thinking})
        out.append((_action_of(c), None))
    return out


def _exc_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _failure_reason(policy: Any, agent: str, exc: BaseException) -> str:
    spec = policy_spec(policy)
    name = ":".join(str(x) for x in (spec.get("backend"), spec.get("model")) if x)
    return f"policy {name or '?'} for {agent!r} failed: {_exc_text(exc)}"


class _Progress:
    """A rich progress bar with done / failed counts and throughput (silent when disabled)."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.total = total
        self._progress: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]episodes"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("episodes", total=self.total, counts="", rate="")
        return self

    def update(self, summary: SweepSummary, elapsed: float) -> None:
        if self._progress is None:
            return
        counts = f"ok {summary.ok}  failed {summary.failed}  judge_error {summary.judge_error}"
        if summary.unjudged:
            counts += f"  unjudged {summary.unjudged}"
        if summary.skipped:
            counts += f"  skipped {summary.skipped}"
        rate = f"{summary.finished / elapsed:.2f} ep/s" if elapsed > 0 else ""
        self._progress.update(
            self._task, completed=summary.finished + summary.skipped, counts=counts, rate=rate
        )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def run_sweep(
    env_id: str,
    *,
    store: ReplayStore | str | Path,
    policy: PolicyLike | None = None,
    roles: Mapping[str, PolicyLike] | None = None,
    judge: Any = None,
    episodes: int = 1,
    seed: int = 0,
    scenarios: Sequence[Any] | None = None,
    options: Mapping[str, Any] | None = None,
    **runner_kwargs: Any,
) -> SweepSummary:
    """Run ``episodes`` episodes of ``env_id`` (seeds ``seed..``) and store them: the one-call API."""
    runner = Runner(store, policy=policy, roles=roles, judge=judge, **runner_kwargs)
    return runner.run(jobs_for(env_id, episodes, seed=seed, scenarios=scenarios, options=options))
