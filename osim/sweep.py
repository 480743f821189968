"""Benchmark sweeps: every SOUL task (or some) for one or more policies, one run per (policy, task).

A sweep samples ``instances`` rows of each task's data with the sweep seed (the published Parquet under
``data_dir`` when it is there, the task's fixture otherwise, and the output says which), turns them into
episode jobs (seeds ``seed, seed+1, ...``) and runs them with the ordinary runner, locally or sharded
over a Ray cluster (``osim.ray_executor``). The run id is the runner's hash of the configuration (tasks,
options, policy, judge and the sweep's data source, not the seed or the count), so the same command
resumes a killed sweep and a longer one extends the same runs (README "Sweeps and the leaderboard").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import osim_env
from osim.defaults import env_options
from osim.runner import EpisodeJob, Runner, SweepSummary, jobs_for
from osim.suites import SUITES
from osim_env.data import Scenario, fixture_path
from osim_env.seeding import derive_seed
from policies.base import Policy
from policies.spec import parse_spec

SUITE = "soul"


def registered_tasks() -> list[str]:
    """The registered SOUL task ids (``soul/...``): the SOUL-Index's 23 and any other (tau-user)."""
    return [env_id for env_id in osim_env.registry() if env_id.startswith(f"{SUITE}/")]


def suite_tasks(suite: str) -> list[str]:
    """The env ids of a suite (``osim.suites``): ``soul`` is every registered SOUL task; a named suite's
    tasks must all be registered (a missing one is an error, not a silently shorter sweep)."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")
    known = registered_tasks()
    members = SUITES[suite]
    if members is None:
        return known
    missing = [t for t in members if t not in known]
    if missing:
        raise ValueError(f"suite {suite!r} needs tasks that are not registered: {', '.join(missing)}")
    return list(members)


def resolve_tasks(names: str | None, suite: str = SUITE) -> list[str]:
    """Env ids for ``--tasks a,b`` (short names like ``hitom`` or full ids, any registered SOUL task);
    ``None``: the suite's tasks."""
    if not names:
        return suite_tasks(suite)
    known = registered_tasks()
    by_short = {env_id.split("/", 1)[1].rsplit("-v", 1)[0]: env_id for env_id in known}
    out = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        env_id = name if name in known else by_short.get(name.replace("-", "_"), by_short.get(name))
        if env_id is None:
            raise ValueError(f"unknown SOUL task {name!r}; registered: {', '.join(sorted(by_short))}")
        if env_id not in out:
            out.append(env_id)
    if not out:
        raise ValueError("--tasks names no task")
    return out


def _task_names(env_id: str) -> list[str]:
    """Names the task's data file may carry: its ``data_source`` (``paratomi``, ``humanual-book``), the
    aliases it accepts (the published file stems, ``humanual_book``), then its package (``tomi``)."""
    env = osim_env.make_raw(env_id)
    names = [str(env.data_source), *env.data_source_aliases, env.task_package.rsplit(".", 1)[-1]]
    names += [n.replace("-", "_") for n in names]
    return list(dict.fromkeys(names))


def data_file(data_dir: str | Path | None, env_id: str) -> Path | None:
    """The task's published data under ``data_dir``: ``<name>/test.parquet``, ``<name>.parquet``,
    ``<name>_val.parquet`` (the published evaluation files), ``<name>.jsonl`` or the only Parquet file of
    ``<name>/``, for each of the task's names in order; None when absent."""
    if data_dir is None:
        return None
    root = Path(data_dir)
    for name in _task_names(env_id):
        candidates = (
            root / name / "test.parquet",
            root / f"{name}.parquet",
            root / f"{name}_val.parquet",
            root / f"{name}.jsonl",
        )
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        folder = root / name
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if len(files) == 1:
            return files[0]
        if len(files) > 1:
            raise ValueError(f"{folder} holds several Parquet files; name the split test.parquet")
    return None


@dataclass(frozen=True)
class TaskPlan:
    """One task of a sweep: the sampled rows and where they come from."""

    env_id: str
    source: str  # the data file, or "fixture <path>"
    available: int  # rows in the source
    scenarios: tuple[Scenario, ...]

    @property
    def from_fixture(self) -> bool:
        return self.source.startswith("fixture")

    @property
    def data_label(self) -> str:
        """The data source in the run's configuration: the file as given, or ``fixture`` (not the
        fixture's install path, so a sweep resumes from another checkout)."""
        return "fixture" if self.from_fixture else self.source

    def describe(self, instances: int) -> str:
        short = f" (the source has only {self.available} rows)" if self.available < instances else ""
        return f"{self.env_id}: {len(self.scenarios)} instances{short} from {self.source}"


def sample(rows: Sequence[Scenario], instances: int, seed: int, env_id: str) -> tuple[Scenario, ...]:
    """``instances`` rows drawn without replacement with a generator seeded by (sweep seed, task): the
    same seed picks the same rows, whatever else the sweep holds."""
    if instances < 1:
        raise ValueError(f"instances must be >= 1, got {instances}")
    rng = np.random.default_rng(derive_seed(seed, f"sweep-sample:{env_id}"))
    order = rng.permutation(len(rows))[: min(instances, len(rows))]
    return tuple(rows[int(i)] for i in order)


def plan_task(env_id: str, instances: int, seed: int, data_dir: str | Path | None = None) -> TaskPlan:
    """The task's rows (a data file read with the task's own loader, else the env's fixture rows),
    those the env plays (``TextEnv.plays``: one id of a package that registers several), sampled."""
    env = osim_env.make_raw(env_id)
    path = data_file(data_dir, env_id)
    if path is None:
        source = f"fixture {fixture_path(env.task_package)}"
        rows = env.fixture_rows()
    else:
        source = str(path)
        rows = env.data_rows(path)
    if not rows:
        raise ValueError(f"{env_id}: {source} holds no rows")
    return TaskPlan(env_id, source, len(rows), sample(rows, instances, seed, env_id))


def jobs_of(plan: TaskPlan, seed: int, options: Mapping[str, Any] | None = None) -> list[EpisodeJob]:
    """One job per sampled row: seeds ``seed, seed+1, ...`` in the sampled order (one rollout each)."""
    return jobs_for(
        plan.env_id, len(plan.scenarios), seed=seed, scenarios=list(plan.scenarios), options=options
    )


def task_options(env_id: str, judge: str | None) -> dict[str, Any]:
    """``--judge SPEC`` sets the model behind the task's LLM judge; rule-judged tasks ignore it."""
    if judge is not None and "judge_model" in env_options(env_id):
        return {"judge_model": judge}
    return {}


@dataclass
class SweepConfig:
    """What ``osim sweep`` runs (one run per policy and task)."""

    policies: Sequence[str]
    store: str | Path
    tasks: Sequence[str] = ()  # env ids; empty: every registered SOUL task
    suite: str = SUITE  # recorded in each run's config
    judge: str | None = None
    instances: int = 100
    seed: int = 0
    data_dir: str | Path | None = None
    executor: str = "local"  # "local" or "ray"
    address: str | None = None  # Ray cluster address (None: start a local one)
    shard_size: int = 8  # episodes per Ray task
    concurrency: int = 64
    write_batch: int = 32
    judge_enabled: bool = True
    progress: bool = True
    retry_failed: bool = False
    runner_extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskResult:
    policy: str
    plan: TaskPlan
    summary: SweepSummary


def runner_for(
    config: SweepConfig, policy: str, plan: TaskPlan, instance: Policy | None = None, **kw: Any
) -> Runner:
    """The runner of one (policy, task): the sweep's policy label and data source are part of the run's
    configuration (so they name the run), the seed and the count are not (so the sweep resumes). With
    the Ray executor it is a ``RayRunner``: same run id, episodes run on the cluster, where each worker
    builds the policy from its spec; locally ``instance`` (built once per sweep) plays every task."""
    cls: type[Runner] = Runner
    if config.executor == "ray":
        from osim.ray_executor import RayRunner

        cls, kw, instance = (
            RayRunner,
            {"address": config.address, "shard_size": config.shard_size, **kw},
            None,
        )
    return cls(
        config.store,
        policy=policy if instance is None else instance,
        judge=None if config.judge_enabled else False,
        concurrency=config.concurrency,
        write_batch=config.write_batch,
        config={"sweep": {"suite": config.suite, "policy": policy, "data": plan.data_label}},
        retry_failed=config.retry_failed,
        progress=config.progress,
        **{**config.runner_extra, **kw},
    )


def run(
    config: SweepConfig,
    *,
    say: Callable[[str], None] = print,
    plans: Sequence[TaskPlan] | None = None,
) -> list[TaskResult]:
    """Run the sweep task by task (each with its own progress display) and policy by policy."""
    env_ids = list(config.tasks) or registered_tasks()
    plans = (
        list(plans)
        if plans is not None
        else [plan_task(e, config.instances, config.seed, config.data_dir) for e in env_ids]
    )
    for plan in plans:
        say(
            ("fixture rows (no data file found): " if plan.from_fixture else "data: ")
            + plan.describe(config.instances)
        )
    results = []
    total = len(plans) * len(config.policies)
    instances: dict[str, Policy] = {}  # local executor: one model load per policy, not per task
    for step, (plan, policy) in enumerate(((p, q) for p in plans for q in config.policies), 1):
        jobs = jobs_of(plan, config.seed, task_options(plan.env_id, config.judge))
        say(f"[{step}/{total}] {plan.env_id} with {policy}: {len(jobs)} episodes")
        if config.executor == "local" and policy not in instances:
            instances[policy] = parse_spec(policy)
        summary = runner_for(config, policy, plan, instances.get(policy)).run(jobs)
        results.append(TaskResult(policy, plan, summary))
    return results
