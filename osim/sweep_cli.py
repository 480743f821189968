"""``osim sweep`` and ``osim leaderboard`` (README "Sweeps and the leaderboard").

    osim sweep soul --policy SPEC [--policy SPEC2] [--judge SPEC] [--tasks a,b] --instances 100 --seed 0 \\
        [--data-dir DIR] --store runs.duckdb [--executor ray [--address ADDR]]
    osim leaderboard --store runs.duckdb [--runs RUN ...] [--format table|markdown|csv|json] [--plot out.png]

Mistakes in a command are ``UserError``s (one line, exit 2), checked before any model loads.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from osim import checks, judge_cache, leaderboard, sweep
from osim.checks import UserError
from osim.display import console
from osim_env.data import RowError

FORMATS = ("table", "markdown", "csv", "json")


def cmd_sweep(args: argparse.Namespace) -> int:
    try:
        tasks = sweep.resolve_tasks(args.tasks, args.suite)
    except ValueError as exc:
        raise UserError(f"--tasks: {exc}" if args.tasks else str(exc)) from exc
    if args.instances < 1:
        raise UserError(f"--instances must be >= 1, got {args.instances}")
    for i, spec in enumerate(args.policy):
        checks.policy_spec(spec, "--policy" if i == 0 else f"--policy #{i + 1}")
    if args.judge is not None:
        checks.policy_spec(args.judge, "--judge")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise UserError(f"--data-dir: no such folder {args.data_dir!r}")
    if args.executor == "ray" and importlib.util.find_spec("ray") is None:
        raise UserError("--executor ray needs Ray: pip install 'osim[ray]'")
    if Path(args.store).exists():
        with checks.open_store(args.store, read_only=True):
            pass
    try:
        plans = [sweep.plan_task(t, args.instances, args.seed, args.data_dir) for t in tasks]
    except (RowError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    cache = judge_cache.open_cache(
        args.store, args.judge_cache, enabled=not (args.no_judge_cache or args.no_judge)
    )
    config = sweep.SweepConfig(
        policies=list(args.policy),
        store=args.store,
        tasks=tasks,
        suite=args.suite,
        judge=args.judge,
        instances=args.instances,
        seed=args.seed,
        data_dir=args.data_dir,
        executor=args.executor,
        address=args.address,
        shard_size=args.shard_size,
        concurrency=args.concurrency,
        write_batch=args.write_batch,
        judge_enabled=not args.no_judge,
        progress=not args.no_progress,
        retry_failed=args.retry_failed,
        runner_extra={
            "judge_cache": cache,
            "on_flush": (lambda n: print(f"stored {n} episodes", flush=True)) if args.log_flushes else None,
        },
    )
    out = console()
    start = time.perf_counter()
    try:
        results = sweep.run(
            config, say=lambda line: out.print(line, markup=False, highlight=False), plans=plans
        )
    finally:
        if cache is not None:
            cache.close()
    table = Table(title=f"sweep: {len(results)} runs in {time.perf_counter() - start:.1f}s")
    for column in ("task", "policy", "run", "ok", "judge_error", "failed", "skipped"):
        table.add_column(column, overflow="fold")
    for r in results:
        s = r.summary
        table.add_row(
            r.plan.env_id, r.policy, s.run_id, str(s.ok), str(s.judge_error), str(s.failed), str(s.skipped)
        )
    out.print(table)
    done = sum(r.summary.finished for r in results)
    skipped = sum(r.summary.skipped for r in results)
    out.print(f"{done} episodes run, {skipped} already stored (skipped)")
    out.print(f"leaderboard: osim leaderboard --store {args.store}", markup=False, highlight=False)
    return 0


def _human_reference(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    if not Path(path).is_file():
        raise UserError(f"--human-reference: no such file {path!r}")
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"--human-reference: {path} is not JSON ({exc})") from exc


def cmd_leaderboard(args: argparse.Namespace) -> int:
    reference = _human_reference(args.human_reference)
    with checks.open_store(args.store, read_only=True) as store:
        for run in args.runs or ():
            checks.run_id(store, run)
        try:
            board = _build(store, args, reference)
        except ValueError as exc:  # e.g. no tau-user episode on a task of the human reference
            raise UserError(f"--human-reference: {exc}") from exc
    if not len(board.tasks):
        raise UserError(f"no episodes in {args.store}" + (" for these runs" if args.runs else ""))
    if args.format == "table":
        _print_tables(board)
    else:
        print(leaderboard.render(board, args.format), end="")
    if args.plot:
        from osim.plots import plot

        try:
            paths = plot(board, args.plot, paper_scale=args.paper_scale)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        if args.format == "table":
            console().print("plot: " + ", ".join(str(p) for p in paths), markup=False, highlight=False)
    return 0


def _build(store: Any, args: argparse.Namespace, reference: dict[str, Any] | None) -> leaderboard.Leaderboard:
    return leaderboard.build(
        store,
        args.runs or None,
        profile=bool(args.plot) or args.format == "json",
        human_reference=reference,
    )


def _print_tables(board: leaderboard.Leaderboard) -> None:
    out = console()
    header, rows = leaderboard.score_matrix(board)
    table = Table(title="SOUL leaderboard: score ± 95% CI (n, judge errors)")
    for column in header:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    header, rows = leaderboard.rows_for_text(board)
    detail = Table(title="per task")
    for column in header:
        detail.add_column(column, overflow="fold")
    for row in rows:
        detail.add_row(*row)
    out.print(detail)
    for title, frame in (
        ("breakdowns and sweep-level metrics", board.breakdowns),
        ("human-likeness profile", board.profile),
    ):
        if not len(frame):
            continue
        extra = Table(title=title)
        for column in frame.columns:
            extra.add_column(str(column), overflow="fold")
        for record in frame.itertuples(index=False):
            extra.add_row(*(leaderboard.cell(v) for v in record))
        out.print(extra)


def add_parser(sub: Any, common: argparse.ArgumentParser, default_store: str) -> None:
    """The ``sweep`` and ``leaderboard`` commands."""

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help, parents=[common], formatter_class=argparse.ArgumentDefaultsHelpFormatter
        )

    p = command("sweep", "run every SOUL task (or --tasks) for each --policy, one run per policy and task")
    p.add_argument(
        "suite",
        help="the benchmark suite: soul (every SOUL task), soul-index (its 23) or soul-paper (the ten)",
    )
    p.add_argument("--policy", action="append", required=True, help="policy spec (repeatable)")
    p.add_argument("--judge", metavar="SPEC", help="model behind the LLM judges, as a policy spec")
    p.add_argument("--no-judge", action="store_true", help="store episodes unjudged")
    p.add_argument("--tasks", help="comma-separated task names or ids (default: every registered SOUL task)")
    p.add_argument("--instances", type=int, default=100, help="rows sampled per task with the seed")
    p.add_argument("--seed", type=int, default=0, help="sampling seed and the first episode's seed")
    p.add_argument("--data-dir", help="published Parquet per task (<task>/test.parquet, <task>.parquet)")
    p.add_argument("--store", default=default_store, help="replay store (DuckDB file)")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="where episodes run")
    p.add_argument("--address", help="Ray cluster address (default: start a local one)")
    p.add_argument("--shard-size", type=int, default=8, help="episodes per Ray task")
    p.add_argument("--concurrency", type=int, default=64, help="live envs (per worker with Ray)")
    p.add_argument("--write-batch", type=int, default=32, help="episodes per store transaction")
    p.add_argument("--retry-failed", action="store_true", help="re-run episodes stored as failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--log-flushes", action="store_true", help="print a line after every store write")
    judge_cache.add_arguments(p)
    p.set_defaults(func=cmd_sweep)

    p = command("leaderboard", "the SOUL leaderboard of the runs in a store")
    p.add_argument("--store", default=default_store, help="replay store (DuckDB file)")
    p.add_argument("--runs", nargs="+", metavar="RUN", help="only these runs (default: all)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format")
    p.add_argument("--plot", metavar="OUT.png", help="also draw the leaderboard (PNG and SVG)")
    p.add_argument("--paper-scale", action="store_true", help="plot Sotopia on the paper's scale")
    p.add_argument("--human-reference", metavar="FILE", help="tau-user human reference (JSON), for its USI")
    p.set_defaults(func=cmd_leaderboard)
