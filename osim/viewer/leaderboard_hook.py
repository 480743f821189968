"""The leaderboard on the viewer's runs page: the table and plot of ``osim leaderboard``.

The viewer does not compute a leaderboard of its own: ``leaderboard_panel`` asks ``osim.leaderboard``
for it (the score matrix of ``--format markdown``) and ``osim.plots`` for its figure. ``osim replay
serve`` passes the hook to the app, which calls it once (the store cannot change while it is served).
This module imports no web stack.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LeaderboardPanel:
    """What the hook hands the runs page: a table (cells are shown as text) and an optional PNG plot."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    plot_png: bytes | None = None
    title: str = "Leaderboard"


LeaderboardHook = Callable[[Any], "LeaderboardPanel | None"]  # called with the open ReplayStore


def leaderboard_panel(store: Any) -> LeaderboardPanel | None:
    """The leaderboard of every run in ``store`` (None when it has none), with its plot when
    matplotlib is installed (the ``plots`` extra)."""
    from osim import leaderboard

    board = leaderboard.build(store)
    if not len(board.tasks):
        return None
    columns, rows = leaderboard.score_matrix(board)
    try:
        from osim.plots import plot

        with tempfile.TemporaryDirectory() as folder:
            png, _svg = plot(board, Path(folder) / "leaderboard.png")
            image: bytes | None = png.read_bytes()
    except ImportError:
        image = None
    return LeaderboardPanel(columns=columns, rows=rows, plot_png=image)


def find_hook() -> LeaderboardHook:
    return leaderboard_panel
