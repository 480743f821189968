"""Evaluation during a TRL ``Trainer`` run (GRPO): every ``every`` optimizer steps the model is saved to
``OUTPUT_DIR/eval/step-N`` and handed to ``on_eval(step, folder)``, which the app answers by playing it
through the runner into the store. ``learners.ditto`` runs its own loop and calls ``on_eval`` the same
way, so both commands evaluate through one function (``osim.train_eval.evaluate``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

OnEval = Callable[[int, str], list[dict[str, Any]]]
"""``on_eval(step, checkpoint folder)``: the results of evaluating that checkpoint."""


class EvalEvery(TrainerCallback):
    """Saves the model every ``every`` steps and evaluates it; the results collect in ``results``."""

    def __init__(self, every: int, on_eval: OnEval, output_dir: str) -> None:
        self.every = every
        self.on_eval = on_eval
        self.output_dir = Path(output_dir)
        self.results: list[dict[str, Any]] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % self.every:
            return
        folder = self.output_dir / "eval" / f"step-{state.global_step}"
        kwargs["model"].save_pretrained(str(folder))
        kwargs["processing_class"].save_pretrained(str(folder))
        self.results += self.on_eval(state.global_step, str(folder))
