"""Social-R1's rule judge: 1 iff the extracted letter is the gold letter (docs/tasks.md#social-r1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from judges.rules import MCQJudge


def n_options(row: Mapping[str, Any]) -> int:
    return len(row["options"])


def social_r1_judge() -> MCQJudge:
    """The options and the gold letter are parsed from the rendered prompt when the row is loaded."""
    return MCQJudge(gold="gold", n_options=n_options)
