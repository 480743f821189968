"""HumanLLM item selection: rank the five items a shopper most likely buys next (docs/tasks.md#humanllm)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from judges.soul_index import accepted_sources
from osim_env.data import Scenario, load_rows
from scenarios.humanllm.schema import DATA_SOURCE, HumanLLMRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """HumanLLM rows from a published Parquet file or JSONL (published layout or bare rows).

    The accepted ``data_source`` values are those of ``judges.soul_index.DATA_SOURCES`` (only
    ``humanllm``); any other value is a ``RowError``. With ``on_invalid="skip"`` rows that fail
    validation are dropped and their number is reported in a warning."""
    scenarios, skipped = load_rows(path, HumanLLMRow, accepted_sources(DATA_SOURCE), on_invalid=on_invalid)
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} invalid HumanLLM rows", UserWarning, stacklevel=2)
    return scenarios


__all__ = ["HumanLLMRow", "load"]
