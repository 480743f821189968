"""The ``osim`` command: run sweeps, browse and export stored episodes, and the offline demo.

    osim demo                                   # Sotopia + Hi-ToM on the tiny local model, no key
    osim envs                                   # registered env ids
    osim run ENV_ID --policy SPEC [--role ROLE=SPEC] [--judge SPEC] --episodes N --seed S --store FILE
    osim replay list|show|check|export|rejudge ...

Policies are spec strings (``policies.parse_spec``: ``tiny``, ``hf:PATH``, ``vllm:PATH``,
``openai:MODEL@URL``, ``scripted:FILE``, ``random``). ``--judge`` names the model behind the env's LLM
judge (its ``judge_model`` option), as a policy spec.

A mistake in a command is one line on stderr (``osim: error: ...``) and exit status 2, checked before
any model is loaded or anything is stored; ``--debug`` (or ``OSIM_DEBUG=1``) shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

import osim_env
from osim import checks, judge_cache, replay_cli, sweep_cli, train_cli
from osim.checks import UserError
from osim.display import console, num
from osim.runner import Runner, jobs_for
from replays import ReplayStore

DEFAULT_STORE = "osim_runs/osim.duckdb"
DEMO_STORE = "osim_runs/demo.duckdb"
# The demo: a few short episodes of a multi-turn and a single-turn task on the tiny local model.
DEMO_ENVS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("soul/sotopia-v0", {"max_turns": 6}),
    ("soul/hitom-v0", {}),
)
POLICY_SPECS = (
    "policy specs: tiny | tiny:vllm | hf:PATH | vllm:PATH | openai:MODEL[@BASE_URL] | scripted:FILE | "
    "random[:N] | human, with options after '?', e.g. 'tiny?temperature=0.7&max_new_tokens=64'"
)


def _value(text: str) -> Any:
    """A command-line option value: JSON when it parses (numbers, booleans, null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UserError(f"{flag} must look like KEY=VALUE, got {item!r}")
        out[key] = value
    return out


# -- commands -----------------------------------------------------------------------------------------
def cmd_envs(args: argparse.Namespace) -> int:
    out = console()
    for env_id in osim_env.registry():
        out.print(env_id)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    checks.env_id(args.env_id)
    options = {k: _value(v) for k, v in _pairs(args.option, "--option").items()}
    options = checks.with_judge_model(args.env_id, options, args.judge)
    checks.options(args.env_id, options)
    roles = _pairs(args.role, "--role")
    _check_policies(args.env_id, args.policy, roles)
    scenarios = checks.data_file(args.env_id, args.data) if args.data else None
    if Path(args.store).exists():
        with checks.open_store(args.store, read_only=True):
            pass  # an existing file must be a store this osim can append to
    jobs = jobs_for(args.env_id, args.episodes, seed=args.seed, scenarios=scenarios, options=options)
    cache = judge_cache.open_cache(
        args.store, args.judge_cache, enabled=not (args.no_judge_cache or args.no_judge)
    )
    runner = Runner(
        args.store,
        policy=args.policy,
        roles=roles,
        judge=False if args.no_judge else None,
        concurrency=args.concurrency,
        write_batch=args.write_batch,
        run_id=args.run_id,
        config={"data": str(args.data)} if args.data else None,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
        on_flush=(lambda n: print(f"stored {n} episodes", flush=True)) if args.log_flushes else None,
        judge_cache=cache,
    )
    try:
        summary = runner.run(jobs)
    finally:
        line = judge_cache.report(cache)
        if cache is not None:
            cache.close()
    _print_summary(summary.run_id, args.store, summary)
    if line and not args.no_judge:
        print(line)
    return 0


def _check_policies(env_id: str, policy: str, roles: dict[str, str]) -> None:
    checks.policy_spec(policy, "--policy")
    agents = list(osim_env.make_raw(env_id).possible_agents)
    for role, spec in roles.items():
        if role not in agents:
            raise UserError(f"--role: {env_id} has no role {role!r}; its roles: {', '.join(agents)}")
        checks.policy_spec(spec, f"--role {role}")


def cmd_demo(args: argparse.Namespace) -> int:
    jobs = [
        job
        for env_id, options in DEMO_ENVS
        for job in jobs_for(env_id, args.episodes, seed=args.seed, options=options)
    ]
    out = console()
    out.print(
        f"[bold]osim demo[/]: {args.episodes} episodes each of "
        + ", ".join(env for env, _ in DEMO_ENVS)
        + f" on the policy {args.policy!r} (judges and partners on their defaults), no key, no service."
    )
    if args.policy.startswith("tiny"):
        out.print(
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
    out = console()
    with ReplayStore(store_path) as store:
        frame = store.summary(run_id)
    table = Table(title=f"run {run_id}")
    show_unjudged = bool(frame["unjudged"].sum()) if len(frame) else False
    table.add_column("env", overflow="fold")
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
        table.add_row(row.env_id, *cells, num(row.mean_score), num(row.ci95, prefix="±"))
    out.print(table)
    if summary is not None:
        out.print(
            f"{summary.finished} episodes run, {summary.skipped} already stored (skipped) in "
            f"{summary.wall_s:.1f}s; store writes {summary.store_s:.2f}s"
        )
        for episode_id, reason in summary.failures[:3]:
            short = reason if len(reason) <= 100 else reason[:97] + "..."
            out.print(f"  {episode_id}: {short}", markup=False, highlight=False)
        if len(summary.failures) > 3:
            out.print(
                f"  ... {len(summary.failures) - 3} more: osim replay list --store {store_path} "
                f"--run {run_id} --status failed (or judge_error)",
                markup=False,
                highlight=False,
            )
    out.print(f"store: [bold]{Path(store_path).resolve()}[/]")
    out.print(f"browse: osim replay list --store {store_path} --run {run_id}")


# -- parser ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks (also OSIM_DEBUG=1)")
    common.add_argument("--verbose", action="store_true", help="show the model libraries' logs and bars")
    parser = argparse.ArgumentParser(prog="osim", description="osim: a gym for human simulators")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            parents=[common],
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
            **kwargs,
        )

    p = command("envs", "list registered env ids")
    p.set_defaults(func=cmd_envs)

    p = command("demo", "run a few Sotopia and Hi-ToM episodes on the tiny local model", epilog=POLICY_SPECS)
    p.add_argument("--store", default=DEMO_STORE, help="replay store (DuckDB file)")
    p.add_argument("--episodes", type=int, default=4, help="episodes per task")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (then +1 each)")
    p.add_argument("--policy", default="tiny", help="policy spec of the evaluated roles")
    p.add_argument("--concurrency", type=int, default=16, help="live envs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)

    p = command("run", "run a sweep of one env and store every episode", epilog=POLICY_SPECS)
    p.add_argument("env_id", help="registered env id (see `osim envs`)")
    p.add_argument("--policy", required=True, help="policy spec of the policy roles")
    p.add_argument("--role", action="append", metavar="ROLE=SPEC", help="policy for one role (repeatable)")
    p.add_argument("--judge", metavar="SPEC", help="model behind the env's LLM judge, as a policy spec")
    p.add_argument("--no-judge", action="store_true", help="store episodes unjudged")
    p.add_argument("--episodes", type=int, default=10, help="episodes to run")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (then +1 each)")
    p.add_argument("--store", default=DEFAULT_STORE, help="replay store (DuckDB file)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="env option (repeatable)")
    p.add_argument("--data", help="task data file (Parquet/JSONL); default: the env's fixture rows")
    p.add_argument("--concurrency", type=int, default=64, help="live envs")
    p.add_argument("--write-batch", type=int, default=32, help="episodes per store transaction")
    p.add_argument("--run-id", help="name the run (default: a hash of the configuration, for resume)")
    p.add_argument("--retry-failed", action="store_true", help="re-run episodes stored as failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--log-flushes", action="store_true", help="print a line after every store write")
    judge_cache.add_arguments(p)
    p.set_defaults(func=cmd_run)

    replay_cli.add_parser(sub, common, DEFAULT_STORE)
    train_cli.add_parser(sub, common, DEFAULT_STORE)
    sweep_cli.add_parser(sub, common, DEFAULT_STORE)
    return parser


def quiet_model_libraries() -> None:
    """Hide the model libraries' info logs and progress bars (weight loading, shard writing, engine
    start-up); osim's own progress bar and warnings stay. ``--verbose`` keeps them."""
    for variable, value in (
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TQDM_DISABLE", "1"),
        ("VLLM_LOGGING_LEVEL", "WARNING"),
        ("VLLM_CONFIGURE_LOGGING", "0"),
    ):
        os.environ.setdefault(variable, value)
    for name in ("transformers", "vllm", "huggingface_hub", "datasets", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("OSIM_DEBUG", "") not in ("", "0")
    if not args.verbose:
        quiet_model_libraries()
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        if debug:
            raise
        print(f"osim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; finished episodes are stored, run the same command again to resume", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
