"""The judge cache on the command line: ``--judge-cache FILE`` (default: beside the store).

Re-judging stored episodes with the same judge, prompt and transcript must not pay for the same model
call twice. Task judges take a ``JudgeCache`` (``judges.cache``), but they are built by each env's
``default_judge()``, which knows nothing of the application's files; the application hands the cache
to the judge it got, and to the judges it is made of (a router's or a jury's members).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from judges.cache import JudgeCache

CACHE_FILE = "judge_cache.duckdb"


def default_path(store: str | Path) -> Path:
    return Path(store).resolve().parent / CACHE_FILE


def open_cache(store: str | Path, path: str | None, *, enabled: bool) -> JudgeCache | None:
    """The cache the command uses: ``path``, or the default beside ``store``; None when disabled."""
    if not enabled:
        return None
    target = Path(path) if path else default_path(store)
    target.parent.mkdir(parents=True, exist_ok=True)
    return JudgeCache(target)


def _is_judge(obj: Any) -> bool:
    return hasattr(obj, "judge_episode") or hasattr(obj, "judge_batch")


def _members(value: Any) -> list[Any]:
    """The objects an attribute holds: itself, a list's or dict's items, and the items of the tuples
    among them (a rubric's components are ``name -> (judge, weight)``)."""
    items = (
        list(value.values())
        if isinstance(value, dict)
        else value
        if isinstance(value, list | tuple)
        else [value]
    )
    return [part for item in items for part in (item if isinstance(item, tuple) else (item,))]


def use_cache(judge: Any, cache: JudgeCache | None) -> int:
    """Give ``cache`` to ``judge`` and to the judges among its attributes (lists, dicts and a rubric's
    ``(judge, weight)`` pairs included) that take one (a ``cache`` attribute). Returns how many took it."""
    if cache is None:
        return 0
    seen: set[int] = set()

    def visit(obj: Any) -> int:
        if id(obj) in seen:
            return 0
        seen.add(id(obj))
        taken = 0
        if hasattr(obj, "cache") and (obj.cache is None or isinstance(obj.cache, JudgeCache)):
            obj.cache = cache
            taken = 1
        for value in getattr(obj, "__dict__", {}).values():
            taken += sum(visit(member) for member in _members(value) if _is_judge(member))
        return taken

    return visit(judge) if _is_judge(judge) else 0


def report(cache: JudgeCache | None) -> str | None:
    """One line for the end of a command: hits, misses and the file."""
    if cache is None:
        return None
    cache.flush()
    return f"judge cache {cache.path}: {cache.hits} hits, {cache.misses} misses"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--judge-cache",
        metavar="FILE",
        help=f"judge output cache (DuckDB; default: {CACHE_FILE} beside the store)",
    )
    parser.add_argument(
        "--no-judge-cache", action="store_true", help="call the judge model for every judgment"
    )
