"""TwinVoice: which of four replies a person would write, given their past posts (docs/tasks.md#twinvoice)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.twinvoice.schema import DATA_SOURCE, TwinVoiceRow


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """TwinVoice rows from a published Parquet file or JSONL (published layout or bare rows).

    With ``on_invalid="skip"`` rows that fail validation are dropped and their number is reported
    in a warning."""
    scenarios, skipped = load_rows(path, TwinVoiceRow, DATA_SOURCE, on_invalid=on_invalid)
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} invalid TwinVoice rows", UserWarning, stacklevel=2)
    return scenarios


__all__ = ["TwinVoiceRow", "load"]
