"""LifeChoices: a literary character's decision as one multiple-choice answer (docs/tasks.md#lifechoices)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.lifechoices.schema import DATA_SOURCE, LifeChoicesRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """LifeChoices rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, LifeChoicesRow, DATA_SOURCE, on_invalid=on_invalid)
    return scenarios


__all__ = ["LifeChoicesRow", "load"]
