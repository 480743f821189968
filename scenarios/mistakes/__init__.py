"""Mistakes: simulate a K-12 student with a stated misconception on one MCQ (docs/tasks.md#mistakes)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.mistakes.schema import DATA_SOURCE, MistakesRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """Mistakes rows from a published Parquet file or JSONL (published layout or bare rows).

    With ``on_invalid="skip"`` rows that fail validation are dropped and their number is reported
    in a warning."""
    scenarios, skipped = load_rows(path, MistakesRow, DATA_SOURCE, on_invalid=on_invalid)
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} invalid Mistakes rows", UserWarning, stacklevel=2)
    return scenarios


__all__ = ["MistakesRow", "load"]
