"""Evaluating a trained model through the runner (``osim train ... --eval``, ``--eval-every``).

The model plays each env greedily as ``hf:MODEL_DIR`` into the store, one run per env; a run made during
training holds its optimizer step in its config, so a training curve is read back with
``store.summary(run_id)`` per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import osim_env
from osim.runner import Runner, jobs_for
from replays import ReplayStore


def evaluate(
    model_dir: str,
    env_ids: Sequence[str],
    *,
    episodes: int,
    store: str,
    seed: int = 0,
    step: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Play ``episodes`` episodes of each env with ``hf:MODEL_DIR`` (greedy) into ``store``; each env's
    run id, episode counts and mean score (``None`` when nothing scored), and ``step`` when given."""
    Path(store).parent.mkdir(parents=True, exist_ok=True)
    at_step: dict[str, Any] = {} if step is None else {"step": step}
    runner = Runner(
        store, policy=f"hf:{model_dir}", config={"purpose": "train eval", **at_step}, progress=progress
    )
    out = []
    for env_id in env_ids:
        rows = osim_env.make_raw(env_id).candidate_scenarios()
        summary = runner.run(jobs_for(env_id, episodes, seed=seed, scenarios=list(rows)))
        with ReplayStore(store, read_only=True) as replay:
            frame = replay.summary(summary.run_id)
        row = frame[frame["env_id"] == env_id].iloc[0] if len(frame) else None
        mean = None if row is None or row["mean_score"] != row["mean_score"] else float(row["mean_score"])
        out.append(
            {
                **at_step,
                "env_id": env_id,
                "run_id": summary.run_id,
                "episodes": int(row["episodes"]) if row is not None else 0,
                "ok": summary.ok,
                "failed": summary.failed,
                "mean_score": mean,
            }
        )
    return out
