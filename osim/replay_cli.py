"""``osim replay ...``: browse, check, export and re-judge the episodes in a replay store.

Every subcommand names the store, run and episode it could not find as a ``UserError`` (one line,
exit 2) and never answers an unknown run with an empty success.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

import osim_env
from osim import checks, judge_cache
from osim.checks import UserError
from osim.defaults import option_defaults
from osim.display import console, num, text
from osim_env.transcript import log_line
from replays import EmptyExport, ReplayStore, export, rejudge, replay_stored
from replays.episodes_file import export_episodes, import_episodes


def cmd_list(args: argparse.Namespace) -> int:
    with checks.open_store(args.store, read_only=True) as store:
        if args.run is not None:
            checks.run_id(store, args.run)
        if args.run is None and args.status is None and args.env is None:
            _print_runs(store, args.store)
            return 0
        frame = store.episodes(args.run, env_id=args.env, status=args.status)
    _print_episodes(frame, args)
    return 0


def _print_episodes(frame: Any, args: argparse.Namespace) -> None:
    """Episodes as a table that stays readable at 80 columns: ids are never cut, text columns fold,
    and seed and scenario are shown only when the terminal is wide enough for them."""
    out = console()
    wide = out.width >= 110
    scope = f"run {args.run}" if args.run else "all runs"
    filters = ", ".join(f"{k} {v}" for k, v in (("env", args.env), ("status", args.status)) if v)
    table = Table(title=f"episodes of {scope}" + (f" ({filters})" if filters else ""), box=box.SIMPLE)
    # Across runs, the run id goes above the episode id in one cell, so that both stay whole.
    table.add_column("episode_id" if args.run else "run_id\nepisode_id", no_wrap=True)
    table.add_column("env", overflow="fold", min_width=8)
    if wide:
        table.add_column("scenario", overflow="fold", max_width=12)
        table.add_column("seed", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("turns", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("reason", overflow="fold", min_width=10)
    for row in frame.head(args.limit).itertuples(index=False):
        cells = [row.episode_id, row.env_id, *([row.scenario_id, str(row.seed)] if wide else [])]
        cells += [
            row.status,
            str(row.n_turns),
            num(row.score),
            (text(row.reason) or text(row.termination))[:60],
        ]
        if args.run is None:
            cells[0] = f"{row.run_id}\n{row.episode_id}"
        table.add_row(*cells)
    out.print(table)
    if len(frame) > args.limit:
        out.print(f"... {len(frame) - args.limit} more (--limit)")
    if frame.empty:
        out.print("no episodes match")


def _print_runs(store: ReplayStore, path: str) -> None:
    table = Table(title=f"runs in {path}", box=box.SIMPLE, caption="n: episodes; jerr: judge_error")
    table.add_column("run_id", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("envs", overflow="fold", min_width=8)
    table.add_column("policy", overflow="fold", min_width=8)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("ok/jerr/failed", justify="right", no_wrap=True)
    for row in store.runs().itertuples(index=False):
        config = json.loads(row.config)
        policy = config.get("policy") or {}
        table.add_row(
            row.run_id,
            str(row.created_at)[5:16],
            ", ".join(e[0] for e in config.get("envs", [])),
            ":".join(str(x) for x in (policy.get("backend"), policy.get("model")) if x),
            str(row.episodes),
            f"{row.ok}/{row.judge_error}/{row.failed}",
        )
    console().print(table)


def transcript(store: Any, episode_id: str, run_id: str | None = None) -> str:
    """A readable transcript: every event with its visibility, then the judgments."""
    run_id, episode_id = checks.episode(store, episode_id, run_id)
    record = store.episode(episode_id, run_id)
    status, reason = store.con.execute(
        "SELECT status, reason FROM records.episodes WHERE run_id = ? AND episode_id = ?",
        [run_id, episode_id],
    ).fetchone()
    lines = [
        f"episode {record.episode_id}  run {run_id}",
        f"env {record.env_id}  scenario {record.scenario_id}  seed {record.seed}",
        f"agents {', '.join(record.agents)}  (policy: {', '.join(record.policy_agents)})",
        "",
    ]
    lines += [log_line(event) for event in record.events]
    lines += ["", f"status: {status}" + (f" ({reason})" if reason else "")]
    judgments = store.judgments(episode_id, run_id)
    if judgments:
        lines.append("judgments:")
    for j in judgments:
        who = j.judge.get("kind") or j.judge.get("name") or ""
        if j.error:
            lines.append(f"  {j.agent}: ERROR {j.error}  [{who}]")
            continue
        dims = ", ".join(f"{k}={v:g}" for k, v in j.dims.items())
        lines.append(f"  {j.agent}: score {j.score:.3f}  {dims}  [{who}]")
        if j.feedback is not None:
            lines.append(f"    feedback: {j.feedback.critique}")
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    with checks.open_store(args.store, read_only=True) as store:
        print(transcript(store, args.episode, args.run))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    failures = 0
    with checks.open_store(args.store, read_only=True) as store:
        if args.episode:
            targets = [checks.episode(store, args.episode, args.run)]
        else:
            if args.run is not None:
                checks.run_id(store, args.run)
            frame = store.episodes(args.run)
            targets = list(zip(frame["run_id"], frame["episode_id"]))
            if not targets:
                raise UserError(f"{args.store} holds no episodes to check")
        for run_id, episode_id in targets:
            report = replay_stored(store, episode_id, run_id)
            failures += not report.ok
            print(report)
    return 1 if failures else 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.kind == "episodes":
        return _export_episodes(args)
    filters = {
        "run_id": args.run,
        "role": args.role,
        "env_id": args.env,
        "judge_id": args.judge_id,
        "min_score": args.min_score,
        "max_score": args.max_score,
        "with_feedback": args.with_feedback,
        "include_thinking": args.include_thinking,
    }
    if args.kind == "preference":
        filters["margin"] = args.margin
    with checks.open_store(args.store, read_only=True) as store:
        if args.run is not None:
            checks.run_id(store, args.run)
        if args.env is not None:
            checks.env_id(args.env)
        try:
            path, n = export(store, args.kind, args.out, **filters)
        except EmptyExport as exc:
            print(f"osim: {exc}", file=sys.stderr)
            return 1
    print(f"wrote {n} {args.kind} rows to {path}")
    return 0


def _export_episodes(args: argparse.Namespace) -> int:
    """Whole episodes (events, judgments, model calls) of --run or of every run, as JSONL."""
    filters = {"--role": args.role, "--env": args.env, "--judge-id": args.judge_id}
    filters |= {"--min-score": args.min_score, "--max-score": args.max_score}
    unused = [flag for flag, value in filters.items() if value is not None]
    if unused:
        raise UserError(f"replay export episodes takes --run only, not {', '.join(unused)}")
    if not args.out.endswith(".jsonl"):
        raise UserError(f"replay export episodes writes JSONL; name the file *.jsonl, not {args.out!r}")
    with checks.open_store(args.store, read_only=True) as store:
        if args.run is not None:
            checks.run_id(store, args.run)
        n = export_episodes(store, args.out, None if args.run is None else [args.run])
    print(f"wrote {n} episodes to {args.out}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    if not Path(args.file).is_file():
        raise UserError(f"no such file {args.file!r}")
    with checks.open_store(args.store, read_only=False) as store:
        try:
            summary = import_episodes(store, args.file)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    print(
        f"imported {summary.episodes} episodes ({summary.runs} new runs) into {args.store}; "
        f"{summary.skipped} already stored"
    )
    return 0


def cmd_rejudge(args: argparse.Namespace) -> int:
    out = console()
    with checks.open_store(args.store, read_only=True) as store:
        checks.run_id(store, args.run)
    cache = judge_cache.open_cache(args.store, args.judge_cache, enabled=not args.no_judge_cache)
    try:
        with checks.open_store(args.store, read_only=False) as store:
            judgments, errors, reasons = _rejudge_each_env(args, store, cache)
    finally:
        line = judge_cache.report(cache)
        if cache is not None:
            cache.close()
    if line:
        print(line)
    if reasons:
        out.print("errors by reason:")
        for reason, count in reasons.most_common():
            out.print(f"  {count:>5}  {reason}", markup=False, highlight=False)
    if judgments and errors == judgments:
        print(f"osim: every one of the {judgments} judgments failed (reasons above)", file=sys.stderr)
        return 1
    return 0


def _rejudge_each_env(
    args: argparse.Namespace, store: ReplayStore, cache: Any
) -> tuple[int, int, Counter[str]]:
    """Rejudge the run's episodes env by env; (judgments, errors, error reasons with counts)."""
    frame = store.episodes(args.run)
    if frame.empty:
        raise UserError(f"run {args.run!r} has no stored episodes in {args.store}")
    judgments = errors = 0
    reasons: Counter[str] = Counter()
    for env_id in sorted(set(frame["env_id"])):
        ids = list(frame.loc[frame["env_id"] == env_id, "episode_id"])
        judge = _judge_for(env_id, args, store, ids[0])
        judge_cache.use_cache(judge, cache)
        result = rejudge(store, args.run, judge, episode_ids=ids, progress=not args.no_progress)
        console().print(
            f"{env_id}: {result.episodes} episodes rejudged by {result.judge_id}: "
            f"{result.judgments} judgments, {result.errors} errors, mean score {num(result.mean_score)}"
        )
        judgments += result.judgments
        errors += result.errors
        reasons.update(reason for _, reason in result.failures)
    return judgments, errors, reasons


def _judge_for(env_id: str, args: argparse.Namespace, store: Any, episode_id: str) -> Any:
    """The judge for ``rejudge``: a factory (``module:attr``) or the env's default judge on the model
    ``--judge-model`` (with the episode's stored options)."""
    if args.judge_factory:
        module, _, attr = args.judge_factory.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise UserError(f"--judge-factory: cannot load {args.judge_factory!r} ({exc})") from exc
        if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "judge_episode")):
            obj = obj()  # a judge class or factory
        return obj
    options = dict(store.episode(episode_id, args.run).options)
    options = checks.with_judge_model(env_id, options, args.judge_model)
    judge = osim_env.make_raw(env_id, **option_defaults(env_id, options)).default_judge()
    if judge is None:
        raise UserError(f"{env_id} has no default judge; pass --judge-factory module:attr")
    return judge


def add_parser(sub: Any, common: argparse.ArgumentParser, default_store: str) -> None:
    replay = sub.add_parser(
        "replay", help="browse, check, export and re-judge stored episodes", parents=[common]
    )
    rsub = replay.add_subparsers(dest="replay_command", required=True)

    def parser(name: str, help: str) -> argparse.ArgumentParser:
        return rsub.add_parser(
            name, help=help, parents=[common], formatter_class=argparse.ArgumentDefaultsHelpFormatter
        )

    def store_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--store", default=default_store, help="replay store (DuckDB file)")
        q.add_argument("--run", help="run id (see `osim replay list`)")

    q = parser("list", "runs, or the episodes of --run (or of every run, with --env / --status)")
    store_arg(q)
    q.add_argument("--env", help="only episodes of this env id")
    q.add_argument("--status", help="only episodes with this status (ok, judge_error, failed, unjudged)")
    q.add_argument("--limit", type=int, default=50, help="rows to show")
    q.set_defaults(func=cmd_list)

    q = parser("show", "an episode as a transcript with visibility and judgments")
    q.add_argument("episode", help="episode id (or a unique prefix)")
    store_arg(q)
    q.set_defaults(func=cmd_show)

    q = parser("check", "replay episodes through their env and check they reproduce")
    q.add_argument("episode", nargs="?", help="episode id (default: every episode of --run, or all)")
    store_arg(q)
    q.set_defaults(func=cmd_check)

    q = parser("export", "training data in TRL's formats (Parquet or JSONL), or whole episodes (JSONL)")
    q.add_argument(
        "kind",
        choices=["sft", "prompt_completion", "preference", "episodes"],
        help="dataset format; 'episodes': every stored row of the episodes, for `osim replay import`",
    )
    q.add_argument("out", help="output file (.parquet or .jsonl)")
    store_arg(q)
    q.add_argument("--role", help="role to export (default: each episode's policy agents)")
    q.add_argument("--env", help="only episodes of this env id")
    q.add_argument("--judge-id", help="scores from this judge (default: the run's own judge)")
    q.add_argument("--min-score", type=float, help="keep episodes scoring at least this")
    q.add_argument("--max-score", type=float, help="keep episodes scoring at most this")
    q.add_argument("--margin", type=float, default=0.0, help="preference: minimum score gap")
    q.add_argument(
        "--with-feedback", action="store_true", help="keep the verbal feedback given at reset in prompts"
    )
    q.add_argument("--include-thinking", action="store_true", help="keep <think> blocks in completions")
    q.set_defaults(func=cmd_export)

    q = parser("import", "add the episodes of an `osim replay export episodes` file to a store")
    q.add_argument("file", help="episodes file (.jsonl)")
    q.add_argument("--store", default=default_store, help="replay store (DuckDB file; created if missing)")
    q.set_defaults(func=cmd_import)

    q = parser("rejudge", "score a run's stored episodes with another judge")
    q.add_argument("run", help="run id")
    q.add_argument("--store", default=default_store, help="replay store (DuckDB file)")
    q.add_argument("--judge-model", help="model behind the env's default LLM judge, as a policy spec")
    q.add_argument("--judge-factory", help="module:attr returning a judge object")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    judge_cache.add_arguments(q)
    q.set_defaults(func=cmd_rejudge)

    from osim.viewer import cli as viewer_cli  # the viewer's web stack is imported only when serving

    q = parser("serve", "a local, read-only web viewer over the store (needs the [viewer] extra)")
    viewer_cli.add_arguments(q, default_store)
