"""SocSci210: predict a survey participant's answer in a social-science experiment
(docs/tasks.md#socsci210)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from judges.soul_index import accepted_sources
from osim_env.data import Scenario, load_rows
from scenarios.socsci210.schema import DATA_SOURCE, SocSci210Row


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """SocSci210 rows from a published Parquet file or JSONL (published layout or bare rows).

    The accepted ``data_source`` values are those of ``judges.soul_index.DATA_SOURCES`` (only
    ``socsci210``); any other value is a ``RowError``. With ``on_invalid="skip"`` rows that fail
    validation are dropped and their number is reported in a warning."""
    scenarios, skipped = load_rows(path, SocSci210Row, accepted_sources(DATA_SOURCE), on_invalid=on_invalid)
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} invalid SocSci210 rows", UserWarning, stacklevel=2)
    return scenarios


__all__ = ["SocSci210Row", "load"]
