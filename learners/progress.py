"""A rich progress bar for training: steps, loss and tokens/s, on stderr.

transformers' tqdm bar is turned off (``disable_tqdm``) when this one is on; both read the same
``Trainer`` state. Tokens/s is the cumulative ``num_tokens`` that TRL logs over the wall time since
training began (recipes without token counts show the loss only).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

Describe = Callable[[dict[str, Any], float], "str | None"]
"""A recipe's text for one log entry and the seconds since training began (``None``: keep the old)."""


def loss_and_speed(logs: dict[str, Any], elapsed: float) -> str | None:
    """The default text: the loss, and tokens/s when TRL counts tokens."""
    if "loss" not in logs:
        return None
    stats = f"loss {logs['loss']:.4f}"
    if logs.get("num_tokens") and elapsed > 0:
        stats += f"  {logs['num_tokens'] / elapsed:,.0f} tok/s"
    return stats


def open_bar(description: str, total: int | None, completed: int) -> tuple[Any, Any]:
    """(a started ``rich`` progress, its task): steps done of ``total``, a ``stats`` text, time elapsed,
    on stderr. Stop it with ``progress.__exit__(None, None, None)``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn(f"[bold]{description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    progress.__enter__()
    return progress, progress.add_task(description, total=total, completed=completed, stats="")


class RichProgress(TrainerCallback):
    """Progress bar callback; ``enabled=False`` makes it silent; ``describe`` writes its text."""

    def __init__(
        self, *, enabled: bool = True, description: str = "train", describe: Describe = loss_and_speed
    ) -> None:
        self.enabled = enabled
        self.description = description
        self.describe = describe
        self._progress: Any = None
        self._task: Any = None
        self._start = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = time.perf_counter()
        if not self.enabled:
            return
        self._progress, self._task = open_bar(self.description, state.max_steps or None, state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        if self._progress is None or not logs:
            return
        stats = self.describe(logs, time.perf_counter() - self._start)
        if stats is not None:
            self._progress.update(self._task, stats=stats)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step)
            self._progress.__exit__(None, None, None)
            self._progress = None
