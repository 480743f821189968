"""What the command line checks before it loads a model or writes to the store.

A mistake in a command (a misspelt env id, policy option or path, a bad data row, an unknown run)
must cost the user one readable line, not a traceback after a model load, and must leave nothing
behind in the store. Each check raises ``UserError``; ``osim.cli.main`` prints it as
``osim: error: ...`` and exits 2 (``--debug`` or ``OSIM_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

import osim_env
from osim.defaults import env_options
from osim_env.data import RowError, Scenario
from policies.spec import check_spec
from replays import AmbiguousEpisode, ReplayStore


class UserError(Exception):
    """A mistake in what the user asked for, said in one line."""


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else ""


def env_id(name: str) -> None:
    known = osim_env.registry()
    if name not in known:
        raise UserError(
            f"unknown env id {name!r}{_did_you_mean(name, known)}; registered: {', '.join(known)}"
        )


def options(name: str, options: Mapping[str, Any]) -> None:
    """The options are ones the env has, with valid values (building an env loads no model)."""
    try:
        osim_env.make_raw(name, **options)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{name}: {exc}") from exc


def with_judge_model(name: str, options: Mapping[str, Any], spec: str | None) -> dict[str, Any]:
    """``options`` with the model behind the env's LLM judge set to the policy spec ``spec``."""
    if spec is None:
        return dict(options)
    if "judge_model" not in env_options(name):
        raise UserError(f"{name} has no LLM judge model to set (--judge); its judge is rule-based")
    policy_spec(spec, "--judge")
    return {**options, "judge_model": spec}


def policy_spec(spec: str, flag: str) -> None:
    try:
        check_spec(spec)
    except ValueError as exc:
        raise UserError(f"{flag}: {exc}") from exc


def data_file(name: str, path: str) -> list[Scenario]:
    """The rows of a ``--data`` file that the env plays, read by the task's own loader; none is an error."""
    if not Path(path).is_file():
        raise UserError(f"--data: no such file {path!r}")
    try:
        scenarios = osim_env.make_raw(name).data_rows(path)
    except RowError as exc:
        raise UserError(f"--data: {exc}") from exc
    if not scenarios:
        raise UserError(f"--data: {path} holds no rows")
    return scenarios


@contextmanager
def open_store(path: str | Path, *, read_only: bool) -> Iterator[ReplayStore]:
    """The replay store at ``path``; a missing file (when reading) or a file that is not an osim
    store is a user error."""
    if read_only and not Path(path).is_file():
        raise UserError(f"no replay store at {path} (run `osim run ...` first, or pass --store)")
    try:
        store = ReplayStore(path, read_only=read_only)
    except (duckdb.Error, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not an osim replay store ({first})") from exc
    with store:
        yield store


def run_id(store: ReplayStore, run: str) -> None:
    known = [str(r) for r in store.runs()["run_id"]]
    if run not in known:
        listed = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "") if known else "none"
        raise UserError(f"no run {run!r} in {store.path}{_did_you_mean(run, known)}; runs: {listed}")


def episode(store: ReplayStore, episode_id: str, run: str | None) -> tuple[str, str]:
    """(run id, episode id) of an episode id or unique prefix."""
    if run is not None:
        run_id(store, run)
    try:
        return store.resolve(episode_id, run)
    except (KeyError, AmbiguousEpisode) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise UserError(f"{message} in {store.path}") from exc
