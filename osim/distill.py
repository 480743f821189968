"""Forward distillation: ``osim train distill --mode forward``.

A teacher policy (any spec: ``openai:...``, ``vllm:...``, ``hf:...``, ``scripted:...``) plays tasks
through the runner; every episode lands in the replay store first, judged as usual, so the teacher's
rollouts can be inspected (``osim replay list/show``) and reused. The episodes whose score is at least
``min_score`` then become SFT data for the student through the store's ``sft`` export, and the SFT
recipe (``learners.sft``) trains on them. The runner is part of the app, so this recipe is too; the
training itself stays in ``learners``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import osim_env
from learners.sft import SFTRecipeConfig, train_sft
from osim.runner import Runner, jobs_for


@dataclass
class ForwardDistillConfig(SFTRecipeConfig):
    """The SFT fields (the corpus is the teacher's good episodes) plus the teacher and its tasks."""

    teacher: str = field(default="", metadata={"help": "policy spec of the teacher (any backend)"})
    env: list[str] = field(default_factory=list, metadata={"help": "env id the teacher plays (repeatable)"})
    episodes: int = field(default=16, metadata={"help": "teacher episodes per env"})
    task_data: str | None = field(default=None, metadata={"help": "task rows (default: the env's fixture)"})
    store: str = field(default="osim_runs/osim.duckdb", metadata={"help": "replay store (DuckDB file)"})
    concurrency: int = field(default=16, metadata={"help": "live envs while the teacher plays"})
    min_score: float | None = field(default=1.0, metadata={"help": "keep teacher episodes scoring at least"})


def teacher_jobs(config: ForwardDistillConfig, scenarios: list[Any] | None = None) -> list[Any]:
    """``episodes`` jobs per env, cycling through the task rows (the fixture unless ``scenarios``), so
    a small task is covered row by row rather than drawn at random."""
    jobs = []
    for env_id in config.env:
        rows = scenarios if scenarios is not None else osim_env.make_raw(env_id).candidate_scenarios()
        jobs += jobs_for(env_id, config.episodes, seed=config.seed, scenarios=list(rows))
    return jobs


def run_teacher(
    config: ForwardDistillConfig, *, scenarios: list[Any] | None = None, progress: bool = True
) -> Any:
    """Play the teacher's episodes into the store; returns the runner's ``SweepSummary``."""
    Path(config.store).parent.mkdir(parents=True, exist_ok=True)
    runner = Runner(
        config.store,
        policy=config.teacher,
        concurrency=config.concurrency,
        config={"purpose": "distill-forward teacher"},
        progress=progress,
    )
    return runner.run(teacher_jobs(config, scenarios))


def forward_distill(config: ForwardDistillConfig, *, scenarios: list[Any] | None = None) -> dict[str, Any]:
    """Teacher rollouts into the store, then SFT of the student on those scoring >= ``min_score``."""
    if not config.teacher or not config.env:
        raise ValueError("forward distillation needs a teacher policy spec and at least one env")
    sweep = run_teacher(config, scenarios=scenarios, progress=config.progress)
    sft = SFTRecipeConfig(
        **{k: v for k, v in config.to_json().items() if k in SFTRecipeConfig.__dataclass_fields__},
    )
    sft.from_store, sft.run = config.store, sweep.run_id
    summary = train_sft(sft)
    summary["recipe"] = "distill-forward"
    summary["teacher"] = {
        "spec": config.teacher,
        "run_id": sweep.run_id,
        "store": config.store,
        "episodes": sweep.finished + sweep.skipped,
        "ok": sweep.ok,
        "failed": sweep.failed,
        "kept": sum(summary["data"]["rows_by_source"].values()),
        "min_score": config.min_score,
    }
    return summary
