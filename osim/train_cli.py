"""``osim train ...``: the training recipes from the command line.

    osim train sft --data chats.jsonl:2 --data dialogues/*.parquet:1 --source-mode lmsys=swap --max-steps 200
    osim train sft --from-store runs.duckdb --run RUN --min-score 0.7
    osim train distill --mode forward --teacher openai:gpt-5-nano --env soul/hitom-v0 --episodes 64
    osim train distill --mode on-policy --teacher path/to/teacher --env soul/sotopia-v0 --max-steps 100
    osim train grpo --env soul/hitom-v0 --model osim_runs/usersim --num-generations 4 --max-steps 20
    osim train ditto --env soul/hitom-v0 --model osim_runs/usersim --group-size 4 --feedback-gate below:1
    ... --eval soul/hitom-v0 --eval-episodes 20    # then evaluate the checkpoint through the runner

Every field of a recipe's config dataclass is a flag (``max_steps`` -> ``--max-steps``; booleans get
``--x``/``--no-x``; list fields repeat), so the CLI and ``train_sft(SFTRecipeConfig(...))`` take the same
settings. The run ends with a JSON summary on stdout (also ``OUTPUT_DIR/train_summary.json``); the
progress bar goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import osim_env
from learners.corpus import CorpusError, parse_sources
from learners.distill import OnPolicyDistillConfig, train_on_policy
from learners.ditto import DittoConfig
from learners.grpo import GRPORecipeConfig
from learners.sft import SFTRecipeConfig, mode_table, train_sft
from osim import checks
from osim.checks import UserError
from osim.distill import ForwardDistillConfig, forward_distill
from osim.train_eval import evaluate

DISTILL_MODES = {"forward": ForwardDistillConfig, "on-policy": OnPolicyDistillConfig}
APP_FLAGS = ("store",)  # flags the app owns even when a recipe config has the field


# -- dataclass fields as flags --------------------------------------------------------------------------
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _scalar(annotation: Any) -> tuple[Any, bool]:
    """(the scalar type of a field annotation, whether it is a list)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _scalar(inner[0])
    if origin is list:
        return typing.get_args(annotation)[0], True
    return annotation, False


def add_config_flags(parser: argparse.ArgumentParser, *configs: type, skip: Sequence[str] = ()) -> None:
    """One flag per field of the config dataclasses (a field in several is added once; its help shows
    the first one's default). A flag left out is absent from the parsed namespace."""
    seen = set(skip)
    for config in configs:
        hints = typing.get_type_hints(config)
        defaults = config()
        for f in dataclasses.fields(config):
            if f.name in seen:
                continue
            seen.add(f.name)
            kind, is_list = _scalar(hints[f.name])
            default = getattr(defaults, f.name)
            shown = "" if default in (None, [], "") else f" (default: {default})"
            common = {"default": argparse.SUPPRESS, "help": f.metadata.get("help", "") + shown}
            if kind is bool:
                parser.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, **common)
            elif is_list:
                parser.add_argument(_flag(f.name), action="append", type=kind, **common)
            else:
                parser.add_argument(_flag(f.name), type=kind, **common)


def config_from_args(config: type, args: argparse.Namespace, *, exclusive: Sequence[type] = ()) -> Any:
    """The config dataclass from the flags given (a flag left out keeps the field's default). A flag
    that belongs only to one of the ``exclusive`` other configs is a user error."""
    names = {f.name for f in dataclasses.fields(config)}
    for other in exclusive:
        for f in dataclasses.fields(other):
            if f.name not in names and f.name not in APP_FLAGS and getattr(args, f.name, None) is not None:
                raise UserError(f"{_flag(f.name)} does not apply here")
    values = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if "store" in names and getattr(args, "store", None) is not None:
        values["store"] = args.store
    return config(**values)


# -- checks before anything loads ---------------------------------------------------------------------
def _check_model(flag: str, name: str) -> None:
    if name == "tiny":
        return
    checks.policy_spec(f"hf:{name}", flag)


def _check_sft(config: SFTRecipeConfig) -> None:
    _check_model("--model", config.model)
    if config.on_invalid not in ("raise", "skip"):
        raise UserError(f"--on-invalid must be raise or skip, got {config.on_invalid!r}")
    try:
        sources = parse_sources(config.data)
        mode_table(config)
    except CorpusError as exc:
        raise UserError(f"--data: {exc}") from exc
    if not sources and not config.from_store and not isinstance(config, ForwardDistillConfig):
        raise UserError("no training data: give --data PATH[:RATIO] (repeatable) or --from-store FILE")
    mixture = bool(sources) and sources[0].ratio is not None
    if (mixture or config.streaming) and config.max_steps <= 0:
        raise UserError("a mixture with ratios (PATH:RATIO) or --streaming needs --max-steps")
    if config.from_store:
        with checks.open_store(config.from_store, read_only=True) as store:
            if config.run:
                checks.run_id(store, config.run)


def _check_envs(env_ids: Sequence[str], flag: str) -> None:
    if not env_ids:
        raise UserError(f"give at least one {flag} ENV_ID")
    for env_id in env_ids:
        checks.env_id(env_id)


# -- commands ------------------------------------------------------------------------------------------
def cmd_sft(args: argparse.Namespace) -> int:
    config = config_from_args(SFTRecipeConfig, args)
    _check_sft(config)
    _check_eval(args)
    return _finish(args, _train(train_sft, config))


def cmd_distill(args: argparse.Namespace) -> int:
    cls = DISTILL_MODES[args.mode]
    config = config_from_args(cls, args, exclusive=[c for c in DISTILL_MODES.values() if c is not cls])
    _check_eval(args)
    if isinstance(config, ForwardDistillConfig):
        if not config.teacher:
            raise UserError("--teacher SPEC is required (any policy spec: openai:..., vllm:..., hf:...)")
        checks.policy_spec(config.teacher, "--teacher")
        _check_envs(config.env, "--env")
        _check_sft(config)
        if config.task_data and len(config.env) != 1:
            raise UserError("--task-data holds the rows of one env: give exactly one --env with it")
        scenarios = checks.data_file(config.env[0], config.task_data) if config.task_data else None
        return _finish(args, _train(lambda c: forward_distill(c, scenarios=scenarios), config))
    if not config.teacher:
        raise UserError("--teacher PATH is required (a local model sharing the student's vocabulary)")
    _check_model("--teacher", config.teacher)
    _check_model("--model", config.model)
    _check_envs(config.env, "--env")
    return _finish(args, _train(train_on_policy, config))


def _train(recipe: Any, config: Any) -> dict[str, Any]:
    try:
        return dict(recipe(config))
    except CorpusError as exc:
        raise UserError(str(exc)) from exc


def _check_eval(args: argparse.Namespace) -> None:
    for env_id in args.eval or ():
        checks.env_id(env_id)


def _finish(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    if args.eval:
        summary["eval"] = evaluate(
            summary["model"], args.eval, episodes=args.eval_episodes, store=args.store, seed=args.eval_seed
        )
        Path(summary["config"]["output_dir"], "train_summary.json").write_text(
            json.dumps(summary, indent=2, default=str)
        )
    print(json.dumps(summary, indent=2, default=str))
    return 0


# -- parser --------------------------------------------------------------------------------------------
def add_parser(
    sub: Any, common: argparse.ArgumentParser, default_store: str = "osim_runs/osim.duckdb"
) -> None:
    train = sub.add_parser(
        "train",
        help="train a model: SFT/midtraining, distillation, GRPO, verbal-feedback RL",
        parents=[common],
    )
    tsub = train.add_subparsers(dest="train_command", required=True)

    def parser(name: str, help: str) -> argparse.ArgumentParser:
        p = tsub.add_parser(
            name, help=help, parents=[common], formatter_class=argparse.ArgumentDefaultsHelpFormatter
        )
        p.add_argument("--store", default=default_store, help="replay store for teacher rollouts and --eval")
        p.add_argument(
            "--eval", action="append", metavar="ENV_ID", help="evaluate the trained model on ENV_ID"
        )
        p.add_argument("--eval-episodes", type=int, default=10, help="episodes per --eval env")
        p.add_argument("--eval-seed", type=int, default=0, help="seed of the first eval episode")
        return p

    p = parser("sft", "behavioural midtraining / SFT on chat corpora or stored episodes")
    add_config_flags(p, SFTRecipeConfig, skip=APP_FLAGS)
    p.set_defaults(func=cmd_sft)

    p = parser("distill", "distill a teacher: forward (teacher rollouts -> SFT) or on-policy (reverse KL)")
    p.add_argument("--mode", choices=sorted(DISTILL_MODES), required=True, help="forward or on-policy")
    add_config_flags(p, ForwardDistillConfig, OnPolicyDistillConfig, skip=APP_FLAGS)
    p.set_defaults(func=cmd_distill)

    p = parser("ditto", "verbal-feedback RL (Ditto): drafts, task feedback, refined rollouts, joint groups")
    add_config_flags(p, DittoConfig, skip=APP_FLAGS)
    p.set_defaults(func=cmd_ditto)

    p = parser("grpo", "GRPO with the task's judge as reward: single-turn or whole multi-turn episodes")
    add_config_flags(p, GRPORecipeConfig, skip=APP_FLAGS)
    p.set_defaults(func=cmd_grpo)


def _check_rl(config: Any, args: argparse.Namespace) -> None:
    """What every RL recipe needs: an env to train on, a model, and ``--eval`` for ``--eval-every``."""
    if not config.env:
        raise UserError("give --env ENV_ID (the env to train on)")
    checks.env_id(config.env)
    _check_model("--model", config.model)
    _check_eval(args)
    if config.eval_every > 0 and not args.eval:
        raise UserError("--eval-every needs --eval ENV_ID")


def cmd_ditto(args: argparse.Namespace) -> int:
    """``osim train ditto``: checks before anything loads, ``--eval-every N`` plays the checkpoint of
    every N-th step through the runner into ``--store`` (and ``--eval`` the final model)."""
    from learners.ditto import check_config, train_ditto

    config = config_from_args(DittoConfig, args)
    _check_rl(config, args)
    if config.feedback_model:
        checks.policy_spec(config.feedback_model, "--feedback-model")
    if config.task_data:
        checks.data_file(config.env, config.task_data)
    try:
        check_config(config)
    except ValueError as exc:
        raise UserError(str(exc)) from exc

    return _finish(args, _train(lambda c: train_ditto(c, on_eval=_on_eval(args)), config))


def _on_eval(args: argparse.Namespace) -> Callable[[int, str], list[dict[str, Any]]]:
    """``on_eval(step, checkpoint)`` for a recipe: the ``--eval`` envs played through the runner."""

    def on_eval(step: int, checkpoint: str) -> list[dict[str, Any]]:
        return evaluate(
            checkpoint, args.eval, episodes=args.eval_episodes, store=args.store, seed=args.eval_seed,
            step=step, progress=False,
        )  # fmt: skip

    return on_eval


def cmd_grpo(args: argparse.Namespace) -> int:
    """``osim train grpo``: checks before anything loads; training episodes of multi-turn tasks go to
    ``--store`` with the training step in their run config, and ``--eval-every N`` plays the checkpoint
    of every N-th step through the runner into ``--store`` (the summary's ``eval_curve``)."""
    from learners.grpo import MODES, env_options, partner_specs, train_grpo

    config = config_from_args(GRPORecipeConfig, args)
    _check_rl(config, args)
    if config.mode not in MODES:
        raise UserError(f"--mode must be auto, single or multi, got {config.mode!r}")
    if config.num_generations < 2 or config.per_device_train_batch_size % config.num_generations:
        raise UserError("--per-device-train-batch-size must be a multiple of --num-generations (>= 2)")
    try:
        options = env_options(config)
        checks.options(config.env, options)
        for role, spec in partner_specs(config).items():
            checks.policy_spec(spec, f"--partner {role}")
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    roles = osim_env.make_raw(config.env, **options).possible_agents
    if config.role is not None and config.role not in roles:
        raise UserError(f"--role: {config.env} has no role {config.role!r}; roles are {', '.join(roles)}")
    scenarios = checks.data_file(config.env, config.task_data) if config.task_data else None
    on_eval = _on_eval(args) if args.eval else None
    return _finish(args, _train(lambda c: train_grpo(c, scenarios=scenarios, on_eval=on_eval), config))
