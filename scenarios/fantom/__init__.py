"""FanToM: theory of mind in multi-party conversations, one question per row (docs/tasks.md#fantom)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.fantom.schema import DATA_SOURCE, FanToMRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """FanToM rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, FanToMRow, DATA_SOURCE, on_invalid=on_invalid)
    return scenarios


__all__ = ["FanToMRow", "load"]
