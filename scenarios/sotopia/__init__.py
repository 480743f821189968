"""Sotopia: social interaction between two characters with private goals."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.sotopia.schema import DATA_SOURCE, SotopiaRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """Sotopia rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, SotopiaRow, DATA_SOURCE, on_invalid=on_invalid)
    return scenarios


__all__ = ["SotopiaRow", "load"]
