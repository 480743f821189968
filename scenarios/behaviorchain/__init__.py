"""BehaviorChain: a persona's next behavior as a 4-way choice (docs/tasks.md#behaviorchain)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from osim_env.data import Scenario, load_rows
from scenarios.behaviorchain.schema import DATA_SOURCES, OPTION_LETTERS, BehaviorChainRow

# A gold letter holding more than this share of the rows is flagged (uniform would be 0.25).
SKEWED_SHARE = 0.4


def load(path: str | Path, *, on_invalid: Literal["raise", "skip"] = "raise") -> list[Scenario]:
    """BehaviorChain rows from a published Parquet file or JSONL (published layout or bare rows)."""
    scenarios, _ = load_rows(path, BehaviorChainRow, DATA_SOURCES, on_invalid=on_invalid)
    return scenarios


def gold_letter_distribution(scenarios: Sequence[Scenario]) -> dict[str, Any]:
    """Share of each gold letter and whether one dominates: a skewed distribution lets a constant-letter
    policy score well (the saturation question of docs/tasks.md#behaviorchain)."""
    counts = Counter(s.row.right_option_letter for s in scenarios)
    n = sum(counts.values())
    shares = {letter: counts[letter] / n if n else 0.0 for letter in OPTION_LETTERS}
    return {"n": n, "shares": shares, "skewed": n > 0 and max(shares.values()) > SKEWED_SHARE}


__all__ = ["BehaviorChainRow", "gold_letter_distribution", "load"]
