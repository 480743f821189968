"""``osim train grpo`` in the app: evaluation during training through the runner.

The GRPO recipe itself is ``learners.grpo``; what needs the runner lives here. Every ``eval_every``
optimizer steps the model is saved to ``OUTPUT_DIR/eval/step-N`` and plays ``--eval`` envs through
the runner into the store, each as a run whose config holds the step, so the training curve is in the
store: ``store.summary(run_id)`` per run, or ``summary["eval_curve"]`` of the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from learners.grpo import GRPORecipeConfig, train_grpo
from osim.train_eval import evaluate


class EvalEvery(TrainerCallback):
    """Saves the model every ``every`` steps and evaluates it (``osim.train_eval.evaluate``); the results
    collect in ``curve``."""

    def __init__(
        self, every: int, env_ids: Sequence[str], *, episodes: int, store: str, seed: int, output_dir: str
    ) -> None:
        self.every = every
        self.env_ids = list(env_ids)
        self.episodes = episodes
        self.store = store
        self.seed = seed
        self.output_dir = Path(output_dir)
        self.curve: list[dict[str, Any]] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.every <= 0 or state.global_step % self.every:
            return
        folder = self.output_dir / "eval" / f"step-{state.global_step}"
        model = kwargs["model"]
        model.save_pretrained(str(folder))
        kwargs["processing_class"].save_pretrained(str(folder))
        self.curve += evaluate(
            str(folder),
            self.env_ids,
            step=state.global_step,
            episodes=self.episodes,
            store=self.store,
            seed=self.seed,
            progress=False,
        )


def train_grpo_with_eval(
    config: GRPORecipeConfig,
    *,
    eval_envs: Sequence[str] = (),
    eval_every: int = 0,
    eval_episodes: int = 10,
    eval_seed: int = 0,
    store: str = "osim_runs/osim.duckdb",
    scenarios: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """``train_grpo`` with ``eval_envs`` evaluated every ``eval_every`` steps into ``store``; the summary
    gains ``eval_curve``."""
    callbacks = []
    evaluator = None
    if eval_every > 0 and eval_envs:
        evaluator = EvalEvery(
            eval_every,
            eval_envs,
            episodes=eval_episodes,
            store=store,
            seed=eval_seed,
            output_dir=config.output_dir,
        )
        callbacks.append(evaluator)
    summary = train_grpo(config, scenarios=scenarios, callbacks=callbacks)
    if evaluator is not None:
        summary["eval_curve"] = evaluator.curve
    return summary
