"""Removal of reasoning blocks (``<think>…</think>`` and ``<seed:think>`` variants) from actions.

Thinking is kept in the event payload for the store but never shown to other agents or judges.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_HINT = re.compile(r"think>", re.IGNORECASE)
_BLOCK = re.compile(r"<(seed:)?think>(.*?)</(seed:)?think>", re.IGNORECASE | re.DOTALL)
_OPEN = re.compile(r"<(seed:)?think>", re.IGNORECASE)
_STRAY_CLOSE = re.compile(r"</(seed:)?think>", re.IGNORECASE)


class Stripped(NamedTuple):
    visible: str
    thinking: str
    error: str | None  # "empty after removing thinking" when nothing is left


def strip_thinking(text: str) -> Stripped:
    """Split ``text`` into visible text and thinking.

    Complete blocks are removed; an unclosed opening block drops everything after it. A stray
    closing tag (reasoning models whose template opens the block) drops everything before it.
    """
    if ">" not in text or _HINT.search(text) is None:  # no tag at all, or no think tag
        return Stripped(text, "", None)
    thoughts: list[str] = []

    def _keep(m: re.Match[str]) -> str:
        thoughts.append(m.group(2).strip())
        return ""

    visible = _BLOCK.sub(_keep, text)
    opened = _OPEN.search(visible)
    if opened:
        thoughts.append(visible[opened.end() :].strip())
        visible = visible[: opened.start()]
    stray = list(_STRAY_CLOSE.finditer(visible))
    if stray:
        closed = stray[-1]
        thoughts.insert(0, visible[: closed.start()].strip())
        visible = visible[closed.end() :]
    visible = visible.strip()
    thinking = "\n\n".join(t for t in thoughts if t)
    return Stripped(visible, thinking, None if visible else "empty after removing thinking")
