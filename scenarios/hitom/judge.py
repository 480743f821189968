"""Hi-ToM's rule judge: 1 iff the extracted letter is the gold letter (docs/tasks.md#hitom)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from judges.rules import MCQJudge


def n_choices(row: Mapping[str, Any]) -> int:
    return len(row["choices"])


def hitom_judge() -> MCQJudge:
    """The gold letter is derived from the gold option text when the row is loaded."""
    return MCQJudge(gold="gold", n_options=n_choices)
