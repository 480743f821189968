"""Conventions shared by the SOUL-Index tasks (docs/tasks.md#social-r1, docs/tasks.md#alignx).

Three small things several SOUL-Index task folders need, kept in one place so that no folder copies
them: the ``data_source`` table (canonical routing key and the file-stem aliases the published files
may carry; anything else is a ``RowError`` at load), the parser for answer options that exist only
inside a pre-rendered prompt, and the A/B position of a two-way choice fixed per scenario id (so that
every model sees the same order for a row, whatever the episode seed).
"""

from __future__ import annotations

import hashlib
import re

from judges.extraction import LETTERS

# Canonical ``data_source`` -> aliases accepted on load (docs/tasks.md#social-r1 and the task sections).
DATA_SOURCES: dict[str, tuple[str, ...]] = {
    "social_r1": (),
    "behavior_chain": ("behaviorchain",),
    "sim_arena_math": ("sim_math",),
    "sim_arena_doc": ("sim_doc",),
    "humanual-book": ("humanual_book",),
    "humanual-chat": ("humanual_chat",),
    "humanual-email": ("humanual_email",),
    "humanual-news": ("humanual_news",),
    "humanual-opinion": ("humanual_opinion",),
    "humanual-politics": ("humanual_politics",),
    "alignx": ("alignx_demo", "alignx_pair", "alignx_ugc", "alignx_arbitrary", "alignx_history16"),
    "socsci210": (),
    "humanllm": (),
}

_OPTION_LINE = re.compile(r"^\s*([A-Z])[.)]\s+(.+?)\s*$")


def accepted_sources(canonical: str) -> tuple[str, ...]:
    """``(canonical, *aliases)``: the value to pass as ``data_source`` to ``osim_env.data.load_rows``."""
    if canonical not in DATA_SOURCES:
        raise KeyError(f"unknown SOUL-Index data_source {canonical!r}; known: {sorted(DATA_SOURCES)}")
    return (canonical, *DATA_SOURCES[canonical])


def rendered_options(text: str) -> list[str]:
    """The option texts of a pre-rendered prompt: the LAST run of consecutive lines ``A. x`` / ``A) x``
    labelled A, B, C, ... in order without gaps. A story line such as "A. Smith arrived" earlier in the
    text starts a run that is later superseded. Raises ``ValueError("options not found")`` when the last
    run has fewer than two options."""
    runs: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        m = _OPTION_LINE.match(line)
        if m and m.group(1) == LETTERS[len(current)]:
            current.append(m.group(2))
            continue
        if current:
            runs.append(current)
            current = []
        if m and m.group(1) == "A":
            current = [m.group(2)]
    if current:
        runs.append(current)
    if not runs or len(runs[-1]) < 2:
        raise ValueError("options not found")
    return runs[-1]


def ab_flip(scenario_id: str | int) -> bool:
    """Whether the preferred response is shown second (as B): a bit of ``sha256("<id>:ab")``, fixed per
    scenario id so that the order is the same across seeds and models (a missing id cannot make every
    row share one order: rows without ``index`` get a content hash as their id)."""
    return bool(hashlib.sha256(f"{scenario_id}:ab".encode()).digest()[0] & 1)


__all__ = ["DATA_SOURCES", "ab_flip", "accepted_sources", "rendered_options"]
