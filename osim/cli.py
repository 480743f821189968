"""The ``osim`` command: run sweeps, browse and export stored episodes, and the offline demo.

    osim demo                                   # Sotopia + Hi-ToM on the tiny local model, no key
    osim envs                                   # registered env ids
    osim run ENV_ID --policy SPEC [--role ROLE=SPEC] [--judge SPEC] --episodes N --seed S --store FILE
    osim replay list|show|check|export|rejudge ...

Policies are spec strings (``policies.parse_spec``: ``tiny``, ``hf:PATH``, ``vllm:PATH``,
``openai:MODEL@URL``, ``scripted:FILE``, ``random``). ``--judge`` names the model behind the env's LLM
judge (its ``judge_model`` option), as a policy spec.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import osim_env
from osim.defaults import env_options, option_defaults
from osim.runner import Runner, jobs_for
from osim_env.transcript import log_line
from replays import EmptyExport, ReplayStore, export, rejudge, replay_stored

DEFAULT_STORE = "osim_runs/osim.duckdb"
DEMO_STORE = "osim_runs/demo.duckdb"
# The demo: a few short episodes of a multi-turn and a single-turn task on the tiny local model.
DEMO_ENVS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("soul/sotopia-v0", {"max_turns": 6}),
    ("soul/hitom-v0", {}),
)


def _value(text: str) -> Any:
    """A command-line option value: JSON when it parses (numbers, booleans, null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"osim: {what} must look like KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _console() -> Console:
    return Console()


def _with_judge_model(env_id: str, options: dict[str, Any], judge_model: str | None) -> dict[str, Any]:
    if judge_model is None:
        return options
    if "judge_model" not in env_options(env_id):
        raise SystemExit(f"osim: {env_id} has no LLM judge model to set (--judge); its judge is rule-based")
    return {**options, "judge_model": judge_model}


# -- commands -----------------------------------------------------------------------------------------
def cmd_envs(args: argparse.Namespace) -> int:
    console = _console()
    for env_id in osim_env.registry():
        console.print(env_id)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    options = {k: _value(v) for k, v in _pairs(args.option, "--option").items()}
    options = _with_judge_model(args.env_id, options, args.judge)
    scenarios = None
    if args.data:
        scenarios = _load_data(args.env_id, args.data)
    jobs = jobs_for(args.env_id, args.episodes, seed=args.seed, scenarios=scenarios, options=options)
    runner = Runner(
        args.store,
        policy=args.policy,
        roles=_pairs(args.role, "--role"),
        judge=False if args.no_judge else None,
        concurrency=args.concurrency,
        write_batch=args.write_batch,
        run_id=args.run_id,
        config={"data": str(args.data)} if args.data else None,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
        on_flush=(lambda n: print(f"stored {n} episodes", flush=True)) if args.log_flushes else None,
    )
    summary = runner.run(jobs)
    _print_summary(summary.run_id, args.store, summary)
    return 0


def _load_data(env_id: str, path: str) -> list[Any]:
    """Scenario rows from a data file, through the task package's own loader."""
    package = osim_env.make_raw(env_id).task_package
    return list(importlib.import_module(package).load(path))


def cmd_demo(args: argparse.Namespace) -> int:
    jobs = [
        job
        for env_id, options in DEMO_ENVS
        for job in jobs_for(env_id, args.episodes, seed=args.seed, options=options)
    ]
    console = _console()
    console.print(
        f"[bold]osim demo[/]: {args.episodes} episodes each of "
        + ", ".join(env for env, _ in DEMO_ENVS)
        + f" on the policy {args.policy!r} (judges and partners on their defaults), no key, no service."
    )
    if args.policy.startswith("tiny"):
        console.print(
            "The tiny model has random weights: its text is gibberish and its scores carry no meaning; "
            "the demo exercises the pipeline. Use --policy with a real model for real numbers."
        )
    runner = Runner(
        args.store, policy=args.policy, concurrency=args.concurrency, progress=not args.no_progress
    )
    summary = runner.run(jobs)
    _print_summary(summary.run_id, args.store, summary)
    return 0


def _print_summary(run_id: str, store_path: str | Path, summary: Any = None) -> None:
    console = _console()
    with ReplayStore(store_path) as store:
        frame = store.summary(run_id)
    table = Table(title=f"run {run_id}")
    show_unjudged = bool(frame["unjudged"].sum()) if len(frame) else False
    table.add_column("env", no_wrap=True, min_width=15)
    columns = [
        "n",
        "ok",
        "judge_error",
        "failed",
        *(["unjudged"] if show_unjudged else []),
        "score",
        "95% CI",
    ]
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for row in frame.itertuples(index=False):
        cells = [str(row.episodes), str(row.ok), str(row.judge_error), str(row.failed)]
        cells += [str(row.unjudged)] if show_unjudged else []
        table.add_row(row.env_id, *cells, _num(row.mean_score), _num(row.ci95, prefix="±"))
    console.print(table)
    if summary is not None:
        console.print(
            f"{summary.finished} episodes run, {summary.skipped} already stored (skipped) in "
            f"{summary.wall_s:.1f}s; store writes {summary.store_s:.2f}s"
        )
        for episode_id, reason in summary.failures[:3]:
            short = reason if len(reason) <= 100 else reason[:97] + "..."
            console.print(f"  {episode_id}: {short}", markup=False, highlight=False)
        if len(summary.failures) > 3:
            console.print(f"  ... {len(summary.failures) - 3} more (osim replay list --status ...)")
    console.print(f"store: [bold]{Path(store_path).resolve()}[/]")
    console.print(f"browse: osim replay list --store {store_path} --run {run_id}")


def _num(value: Any, prefix: str = "") -> str:
    try:
        if value is None or value != value:  # None or NaN
            return "-"
        return f"{prefix}{float(value):.3f}"
    except (TypeError, ValueError):
        return "-"


def cmd_replay_list(args: argparse.Namespace) -> int:
    console = _console()
    with ReplayStore(args.store, read_only=True) as store:
        if args.run is None:
            runs = store.runs()
            table = Table(title=f"runs in {args.store}")
            table.add_column("run_id", no_wrap=True, min_width=16)
            for column in ("created", "envs", "policy", "episodes", "ok", "failed", "judge_error"):
                table.add_column(column)
            for row in runs.itertuples(index=False):
                config = json.loads(row.config)
                envs = ",".join(e[0] for e in config.get("envs", []))
                policy = config.get("policy") or {}
                table.add_row(
                    row.run_id,
                    str(row.created_at)[:19],
                    envs,
                    ":".join(str(x) for x in (policy.get("backend"), policy.get("model")) if x),
                    str(row.episodes),
                    str(row.ok),
                    str(row.failed),
                    str(row.judge_error),
                )
            console.print(table)
            return 0
        frame = store.episodes(args.run, env_id=args.env, status=args.status)
        table = Table(title=f"episodes of run {args.run}")
        table.add_column("episode_id", no_wrap=True, min_width=16)
        table.add_column("env", no_wrap=True, min_width=15)
        table.add_column("scenario", no_wrap=True, max_width=12, overflow="ellipsis")
        for column in ("seed", "status", "turns", "score"):
            table.add_column(column, no_wrap=True, min_width=len(column))
        table.add_column("reason", no_wrap=True, max_width=30, overflow="ellipsis")
        for row in frame.head(args.limit).itertuples(index=False):
            table.add_row(
                row.episode_id,
                row.env_id,
                row.scenario_id,
                str(row.seed),
                row.status,
                str(row.n_turns),
                _num(row.score),
                (row.reason or row.termination or "")[:60],
            )
        console.print(table)
        if len(frame) > args.limit:
            console.print(f"... {len(frame) - args.limit} more (--limit)")
    return 0


def transcript(store: Any, episode_id: str, run_id: str | None = None) -> str:
    """A readable transcript: every event with its visibility, then the judgments."""
    run_id, episode_id = store.resolve(episode_id, run_id)
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


def cmd_replay_show(args: argparse.Namespace) -> int:
    with ReplayStore(args.store, read_only=True) as store:
        print(transcript(store, args.episode, args.run))
    return 0


def cmd_replay_check(args: argparse.Namespace) -> int:
    failures = 0
    with ReplayStore(args.store, read_only=True) as store:
        if args.episode:
            targets = [store.resolve(args.episode, args.run)]
        else:
            frame = store.episodes(args.run)
            targets = list(zip(frame["run_id"], frame["episode_id"]))
        for run_id, episode_id in targets:
            report = replay_stored(store, episode_id, run_id)
            failures += not report.ok
            print(report)
    return 1 if failures else 0


def cmd_replay_export(args: argparse.Namespace) -> int:
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
    with ReplayStore(args.store, read_only=True) as store:
        try:
            path, n = export(store, args.kind, args.out, **filters)
        except EmptyExport as exc:
            print(f"osim: {exc}", file=sys.stderr)
            return 1
    print(f"wrote {n} {args.kind} rows to {path}")
    return 0


def cmd_replay_rejudge(args: argparse.Namespace) -> int:
    console = _console()
    with ReplayStore(args.store) as store:
        frame = store.episodes(args.run)
        if frame.empty:
            raise SystemExit(f"osim: run {args.run!r} has no stored episodes in {args.store}")
        for env_id in sorted(set(frame["env_id"])):
            ids = list(frame.loc[frame["env_id"] == env_id, "episode_id"])
            judge = _judge_for(env_id, args, store, ids[0])
            result = rejudge(store, args.run, judge, episode_ids=ids, progress=not args.no_progress)
            console.print(
                f"{env_id}: {result.episodes} episodes rejudged by {result.judge_id}: "
                f"{result.judgments} judgments, {result.errors} errors, mean score {_num(result.mean_score)}"
            )
    return 0


def _judge_for(env_id: str, args: argparse.Namespace, store: Any, episode_id: str) -> Any:
    """The judge for ``rejudge``: a factory (``module:attr``) or the env's default judge on the model
    ``--judge-model`` (with the episode's stored options)."""
    if args.judge_factory:
        module, _, attr = args.judge_factory.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "judge_episode")):
            obj = obj()  # a judge class or factory
        return obj
    options = dict(store.episode(episode_id, args.run).options)
    options = option_defaults(env_id, _with_judge_model(env_id, options, args.judge_model))
    judge = osim_env.make_raw(env_id, **options).default_judge()
    if judge is None:
        raise SystemExit(f"osim: {env_id} has no default judge; pass --judge-factory module:attr")
    return judge


# -- parser ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="osim", description="osim: a gym for human simulators")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("envs", help="list registered env ids")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("demo", help="run a few Sotopia and Hi-ToM episodes on the tiny local model")
    p.add_argument("--store", default=DEMO_STORE, help=f"DuckDB file (default {DEMO_STORE})")
    p.add_argument("--episodes", type=int, default=4, help="episodes per task (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--policy", default="tiny", help="policy spec of the evaluated roles (default tiny)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="run a sweep of one env and store every episode")
    p.add_argument("env_id")
    p.add_argument("--policy", required=True, help="policy spec of the policy roles")
    p.add_argument("--role", action="append", metavar="ROLE=SPEC", help="policy for one role (repeatable)")
    p.add_argument("--judge", metavar="SPEC", help="model behind the env's LLM judge, as a policy spec")
    p.add_argument("--no-judge", action="store_true", help="store episodes unjudged")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store", default=DEFAULT_STORE)
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="env option (repeatable)")
    p.add_argument("--data", help="task data file (Parquet/JSONL); default: the env's fixture rows")
    p.add_argument("--concurrency", type=int, default=64, help="live envs (default 64)")
    p.add_argument("--write-batch", type=int, default=32, help="episodes per store transaction")
    p.add_argument("--run-id", help="name the run (default: a hash of the configuration, for resume)")
    p.add_argument("--retry-failed", action="store_true", help="re-run episodes stored as failed")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--log-flushes", action="store_true", help="print a line after every store write")
    p.set_defaults(func=cmd_run)

    replay = sub.add_parser("replay", help="browse, check, export and re-judge stored episodes")
    rsub = replay.add_subparsers(dest="replay_command", required=True)

    def store_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--store", default=DEFAULT_STORE)
        q.add_argument("--run", help="run id")

    q = rsub.add_parser("list", help="runs, or the episodes of --run")
    store_arg(q)
    q.add_argument("--env")
    q.add_argument("--status")
    q.add_argument("--limit", type=int, default=50)
    q.set_defaults(func=cmd_replay_list)

    q = rsub.add_parser("show", help="an episode as a transcript with visibility and judgments")
    q.add_argument("episode", help="episode id (or a unique prefix)")
    store_arg(q)
    q.set_defaults(func=cmd_replay_show)

    q = rsub.add_parser("check", help="replay episodes through their env and check they reproduce")
    q.add_argument("episode", nargs="?", help="episode id (default: every episode of --run, or all)")
    store_arg(q)
    q.set_defaults(func=cmd_replay_check)

    q = rsub.add_parser("export", help="training data in TRL's formats (Parquet or JSONL)")
    q.add_argument("kind", choices=["sft", "prompt_completion", "preference"])
    q.add_argument("out", help="output file (.parquet or .jsonl)")
    store_arg(q)
    q.add_argument("--role", help="role to export (default: each episode's policy agents)")
    q.add_argument("--env")
    q.add_argument("--judge-id", help="scores from this judge (default: the run's own judge)")
    q.add_argument("--min-score", type=float)
    q.add_argument("--max-score", type=float)
    q.add_argument("--margin", type=float, default=0.0, help="preference: minimum score gap")
    q.add_argument(
        "--with-feedback", action="store_true", help="keep the verbal feedback given at reset in prompts"
    )
    q.add_argument("--include-thinking", action="store_true", help="keep <think> blocks in completions")
    q.set_defaults(func=cmd_replay_export)

    q = rsub.add_parser("rejudge", help="score a run's stored episodes with another judge")
    q.add_argument("run", help="run id")
    q.add_argument("--store", default=DEFAULT_STORE)
    q.add_argument("--judge-model", help="model behind the env's default LLM judge, as a policy spec")
    q.add_argument("--judge-factory", help="module:attr returning a judge object")
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=cmd_replay_rejudge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(
            "interrupted; finished episodes are stored, run the same command again to resume", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
