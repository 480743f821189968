"""tau-bench user simulation: the policy plays the customer of a tool-using service agent
(docs/tasks.md#tau-user)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.tau_user.schema import DATA_SOURCE, TauUserRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """tau-user rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, TauUserRow, DATA_SOURCE, on_invalid=on_invalid)
    return scenarios


__all__ = ["TauUserRow", "load"]
