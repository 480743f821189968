"""CoSER: characters from a book act out a scene, judged against the book's dialogue."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.coser.schema import DATA_SOURCE, CoSERRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """CoSER rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, CoSERRow, DATA_SOURCE, on_invalid=on_invalid)
    return scenarios


__all__ = ["CoSERRow", "load"]
