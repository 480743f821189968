"""Leaderboard plots (matplotlib, headless): per-task bars with 95% CIs for each policy, like the Ditto
paper's Figure 1, and the human-likeness profile of each policy's text against the human reference
(README "Sweeps and the leaderboard"). Saved as PNG and SVG side by side.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from osim.leaderboard import Leaderboard, short
from osim.suites import PAPER_TASKS, SOTOPIA

PROFILE_METRICS = (
    ("words_per_turn", "words per turn"),
    ("formatting_rate", "turns with formatting"),
    ("word_length", "word length"),
    ("type_token_ratio", "lexical diversity (TTR)"),
)


def _nan(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def plot(board: Leaderboard, out: str | Path, *, paper_scale: bool = False) -> list[Path]:
    """Draw the leaderboard to ``out`` (``.png``) and the same figure as ``.svg``; returns both paths.
    ``paper_scale`` draws Sotopia on the paper's scale instead of the normalized one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"--plot needs a .png or .svg file name, got {out.name!r}")
    policies = sorted(board.tasks["policy"].unique()) if len(board.tasks) else []
    if not policies:
        raise ValueError("the leaderboard is empty: no runs to plot")
    has_profile = len(board.profile) > 0
    fig, axes = plt.subplots(
        1, 2 if has_profile else 1, figsize=(15 if has_profile else 11, 5.5), squeeze=False,
        gridspec_kw={"width_ratios": [2.2, 1]} if has_profile else None,
    )  # fmt: skip
    colours = plt.get_cmap("tab10")
    _task_bars(axes[0][0], board, policies, colours, paper_scale)
    if has_profile:
        _profile_bars(axes[0][1], board, policies, colours)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths


def _task_bars(ax: Any, board: Leaderboard, policies: list[str], colours: Any, paper_scale: bool) -> None:
    tasks = [t for t in PAPER_TASKS if t in set(board.tasks["task"])]
    tasks += sorted(set(board.tasks["task"]) - set(PAPER_TASKS))
    index = {(r["policy"], r["task"]): r for r in board.tasks.to_dict(orient="records")}
    width = 0.8 / len(policies)
    for i, policy in enumerate(policies):
        xs, heights, errors = [], [], []
        for x, task in enumerate(tasks):
            row = index.get((policy, task))
            if row is None:
                continue
            value = row["paper_scale"] if paper_scale and task == SOTOPIA else row["score"]
            if _nan(value):
                continue
            xs.append(x - 0.4 + width * (i + 0.5))
            heights.append(value)
            errors.append(0.0 if _nan(row["ci95"]) else row["ci95"])
        ax.bar(xs, heights, width, yerr=errors, capsize=3, label=policy, color=colours(i % 10))
    labels = [short(t) + (" (paper scale)" if paper_scale and t == SOTOPIA else "") for t in tasks]
    ax.set_xticks(range(len(tasks)), labels, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("primary metric (95% CI)")
    ax.set_title("SOUL tasks")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)


def _profile_bars(ax: Any, board: Leaderboard, policies: list[str], colours: Any) -> None:
    """Per metric, the human reference (grey) and each policy, scaled by the largest of them (so that
    a metric where the humans score 0, like formatting, still shows)."""
    frame = board.profile
    task = frame["task"].iloc[0]
    rows = frame[frame["task"] == task]
    human = rows[rows["side"] == "human"].groupby("task").first()  # the same rows for every policy
    sides = [("human reference", human, "0.6")]
    for i, policy in enumerate(policies):
        mine = rows[(rows["policy"] == policy) & (rows["side"] == "policy")]
        if len(mine):
            sides.append((policy, mine, colours(i % 10)))
    width = 0.8 / len(sides)
    for x, (metric, _) in enumerate(PROFILE_METRICS):
        values = [float(side[metric].iloc[0]) if len(side) else float("nan") for _, side, _ in sides]
        top = max((abs(v) for v in values if not _nan(v)), default=0.0) or 1.0
        for j, ((label, _, colour), value) in enumerate(zip(sides, values)):
            if _nan(value):
                continue
            ax.bar(
                x - 0.4 + width * (j + 0.5), value / top, width, color=colour, label=label if x == 0 else None
            )
            ax.text(x - 0.4 + width * (j + 0.5), value / top + 0.01, f"{value:.2g}", ha="center", fontsize=7)
    ax.set_xticks(
        range(len(PROFILE_METRICS)), [label for _, label in PROFILE_METRICS], rotation=30, ha="right"
    )
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("scaled to the largest per metric (value on top)")
    ax.set_title(f"human-likeness profile ({short(task)})")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
