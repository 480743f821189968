"""MirrorBench: simulate the user of a real human–assistant conversation (docs/tasks.md#mirrorbench)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.mirrorbench.schema import DATA_SOURCE, MirrorBenchRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """MirrorBench rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, MirrorBenchRow, DATA_SOURCE, on_invalid=on_invalid)
    return scenarios


__all__ = ["MirrorBenchRow", "load"]
