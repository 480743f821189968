"""AlignX: which of two replies this user prefers, five evaluation variants (docs/tasks.md#alignx)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.alignx.schema import DATA_SOURCES, AlignXRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """AlignX rows from a published Parquet file or JSONL; the variant comes from each row's data_source."""
    scenarios, _ = load_rows(path, AlignXRow, DATA_SOURCES, on_invalid=on_invalid)
    return scenarios


__all__ = ["AlignXRow", "load"]
