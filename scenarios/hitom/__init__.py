"""Hi-ToM: higher-order theory of mind as a single MCQ answer."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.hitom.schema import DATA_SOURCE, HiToMRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """Hi-ToM rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, HiToMRow, DATA_SOURCE, on_invalid=on_invalid)
    return scenarios


__all__ = ["HiToMRow", "load"]
