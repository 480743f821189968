"""Terminal output shared by the commands: one console, and cells that never print ``nan``."""

from __future__ import annotations

from typing import Any

from rich.console import Console


def console() -> Console:
    return Console()


def num(value: Any, prefix: str = "") -> str:
    """A score cell: three decimals, or ``-`` for a missing value (None or NaN)."""
    try:
        if value is None or value != value:
            return "-"
        return f"{prefix}{float(value):.3f}"
    except (TypeError, ValueError):
        return "-"


def text(value: Any) -> str:
    """A text cell: the value, or ``""`` for a missing one (None or NaN from a DataFrame)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)
