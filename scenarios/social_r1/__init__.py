"""Social-R1: adversarial social-reasoning MCQs with pre-rendered prompts (docs/tasks.md#social-r1)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from osim_env.data import Scenario, load_rows
from scenarios.social_r1.schema import DATA_SOURCES, SocialR1Row


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """Social-R1 rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, SocialR1Row, DATA_SOURCES, on_invalid=on_invalid)
    return scenarios


__all__ = ["SocialR1Row", "load"]
