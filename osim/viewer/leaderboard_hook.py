"""The leaderboard hook: how the leaderboard's table and plot get onto the viewer's runs page.

The leaderboard (``osim leaderboard``) lives in ``osim.leaderboard``; the viewer does not compute one of
its own. When that module defines ``viewer_panel(store) -> LeaderboardPanel``, ``osim replay serve``
passes it to the app, which calls it once (the store cannot change while it is served) and shows the
panel's table, and its plot when it has one, above nothing else on the runs page. This module imports
no web stack, so the leaderboard can build a panel without the ``[viewer]`` extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

LEADERBOARD_MODULE = "osim.leaderboard"
HOOK_NAME = "viewer_panel"


@dataclass(frozen=True)
class LeaderboardPanel:
    """What the hook hands the runs page: a table (cells are shown as text) and an optional PNG plot."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    plot_png: bytes | None = None
    title: str = "Leaderboard"


LeaderboardHook = Callable[[Any], "LeaderboardPanel | None"]  # called with the open ReplayStore


def find_hook() -> LeaderboardHook | None:
    """``osim.leaderboard.viewer_panel`` when the leaderboard module is installed and defines it."""
    try:
        module = importlib.import_module(LEADERBOARD_MODULE)
    except ImportError:
        return None
    return getattr(module, HOOK_NAME, None)
