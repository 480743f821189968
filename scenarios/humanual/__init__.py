"""HUMANUAL: write one real person's reply in six domains, scored against the real one
(docs/tasks.md#humanual)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.humanual.schema import DOMAINS, HumanualRow, all_sources


def load(
    path: str | Path, *, domain: str | None = None, on_invalid: Literal["raise", "skip"] = "raise"
) -> list[Scenario]:
    """HUMANUAL rows from a published Parquet file or JSONL (published layout or bare rows).

    Every domain's ``data_source`` values are accepted (``humanual-book``, its file stem
    ``humanual_book``, ..., and the generic ``humanual`` when ``dataset`` names a domain); anything else
    is a ``RowError``. ``domain="book"`` keeps the rows of that domain (and bare rows that name none).
    With ``on_invalid="skip"`` rows that fail validation are dropped and their number is reported in a
    warning."""
    if domain is not None and domain not in DOMAINS:
        raise ValueError(f"domain must be one of {list(DOMAINS)}, got {domain!r}")
    scenarios, skipped = load_rows(path, HumanualRow, all_sources(), on_invalid=on_invalid)
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} invalid HUMANUAL rows", UserWarning, stacklevel=2)
    if domain is None:
        return scenarios
    return [s for s in scenarios if s.row.domain in (None, domain)]


__all__ = ["DOMAINS", "HumanualRow", "load"]
