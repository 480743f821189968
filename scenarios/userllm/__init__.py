"""UserLLM: simulate one user message (CSQA, NQ and PRISM subsets; docs/tasks.md#userllm)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.userllm.schema import DATA_SOURCE, UserLLMRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """UserLLM rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, UserLLMRow, DATA_SOURCE, on_invalid=on_invalid)
    return scenarios


__all__ = ["UserLLMRow", "load"]
