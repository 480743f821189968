"""ToMi (ParaToMi): false-belief location tracking as one open answer (docs/tasks.md#tomi)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.tomi.schema import DATA_SOURCE, ToMiRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """ToMi rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, ToMiRow, DATA_SOURCE, on_invalid=on_invalid)
    return scenarios


__all__ = ["ToMiRow", "load"]
