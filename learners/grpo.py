"""GRPO on osim envs with the task's judge as the reward: ``osim train grpo`` or ``train_grpo(config)``.

The data is episodes of one env (``env``: its fixture rows, or the rows the app read from
``task_data``), and the reward is what the env says when an episode ends (``learners.env_rollouts``),
so every task trains the same way:

- **single-turn** tasks (``max_turns`` 1: Hi-ToM, LifeChoices, ...) use TRL's ``GRPOTrainer`` as it is:
  the prompt is the env's rendering of the row, TRL samples ``num_generations`` completions, and the
  reward function steps a fresh episode with each completion and reads the judge's score;
- **multi-turn** tasks (Sotopia, CoSER, MirrorBench, tau-user) go through ``GRPOTrainer``'s
  ``rollout_func`` hook: each sample is a whole episode in which the model plays the trained role and
  the other roles are played by ``partner`` policies or the task's defaults; the trained role's turns
  are one token sequence with ``env_mask`` 0 on everything the env inserted between its turns, so the
  loss covers only the model's own tokens. ``environment_factory`` is TRL's other hook, but it exposes
  an env as *tools* the model calls inside one assistant turn, which is not how a dialogue partner
  speaks: here the env decides who talks next and the partner is another model, so the episode loop is
  ours and the policy-gradient step is TRL's. Every episode is written to the replay store (``store``)
  as a run whose config holds the training step.

A judgment with an ``error`` (or a failed episode) is no reward: the reward function returns ``None``,
which TRL 1.16's ``GRPOTrainer`` turns into NaN, leaves out of its group's mean and std (``nanmean``,
``nanstd``) and gives an advantage of 0, so the sample moves nothing (trl/trainer/grpo_trainer.py,
"unscorable"). A group with fewer than two scored samples, or all scored alike, has no learning signal:
it is counted as *skipped* in the progress bar and the summary.

    from learners.grpo import GRPORecipeConfig, train_grpo
    summary = train_grpo(GRPORecipeConfig(env="soul/hitom-v0", model="out/sft", max_steps=50))
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from learners.common import (
    TrainConfig,
    key_values,
    last_checkpoint,
    load_model,
    lora_config,
    quiet_printer,
    save_final,
    train_summary,
    trainer_arguments,
)
from learners.env_rollouts import (
    EnvPool,
    EnvScorer,
    EpisodeSpec,
    episode_specs,
    hf_generator,
    observation_prompt,
    play_episodes,
    write_rollouts,
)

MODES = ("auto", "single", "multi")


@dataclass
class GRPORecipeConfig(TrainConfig):
    """``osim train grpo``: the shared fields plus the env, sampling, and who plays the other roles."""

    env: str = field(default="", metadata={"help": "env id to train on, e.g. soul/hitom-v0"})
    task_data: str | None = field(default=None, metadata={"help": "task rows (default: the env's fixture)"})
    prompts: int = field(default=32, metadata={"help": "episodes set up (rows cycled, seeds seed, seed+1..)"})
    num_generations: int = field(default=4, metadata={"help": "completions (episodes) per prompt: a group"})
    max_completion_length: int = field(default=64, metadata={"help": "tokens per completion (per turn)"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling"})
    beta: float = field(default=0.0, metadata={"help": "KL coefficient to the reference model (0: none)"})
    mode: str = field(
        default="auto", metadata={"help": "auto | single | multi (auto: single if max_turns 1)"}
    )
    role: str | None = field(default=None, metadata={"help": "role to train (default: first policy role)"})
    option: list[str] = field(default_factory=list, metadata={"help": "env option KEY=VALUE (repeatable)"})
    partner: list[str] = field(
        default_factory=list, metadata={"help": "ROLE=SPEC: policy of another role (repeatable)"}
    )
    max_episode_tokens: int = field(
        default=4096, metadata={"help": "multi-turn: tokens per episode sequence"}
    )
    store: str | None = field(
        default=None, metadata={"help": "replay store for multi-turn training episodes"}
    )
    eval_every: int = field(default=0, metadata={"help": "steps between --eval runs (0: only at the end)"})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "completions per step and device"})
    learning_rate: float = field(default=1e-5, metadata={"help": "peak learning rate"})


def env_options(config: GRPORecipeConfig) -> dict[str, Any]:
    """``option`` as a dict: JSON values where they parse (numbers, booleans), else strings."""
    return key_values(config.option, "option")


def partner_specs(config: GRPORecipeConfig) -> dict[str, str]:
    """``partner`` as {role: policy spec}."""
    return key_values(config.partner, "partner", form="ROLE=SPEC", json_values=False)


def resolve_mode(config: GRPORecipeConfig, env_kwargs: Mapping[str, Any] | None = None) -> str:
    """``single`` when an episode is one action (``max_turns`` 1), else ``multi``; or as configured."""
    import osim_env

    if config.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {config.mode!r}")
    if config.mode != "auto":
        return config.mode
    raw = osim_env.make_raw(config.env, **{**env_options(config), **dict(env_kwargs or {})})
    return "single" if raw.max_turns == 1 else "multi"


@dataclass
class GRPOStats:
    """What the reward function saw so far: samples, samples without a score (excluded from their
    group), groups, groups without a learning signal (skipped), and the store runs written."""

    samples: int = 0
    excluded: int = 0
    groups: int = 0
    groups_skipped: int = 0
    errors: list[str] = field(default_factory=list)  # the first few, for the summary
    rollout_runs: list[str] = field(default_factory=list)

    def add(self, scores: Sequence[float | None], errors: Sequence[str | None], group: int) -> None:
        self.samples += len(scores)
        self.excluded += sum(s is None for s in scores)
        self.errors += [e for e in errors if e][: max(0, 5 - len(self.errors))]
        for start in range(0, len(scores), group):
            scored = [s for s in scores[start : start + group] if s is not None]
            self.groups += 1
            self.groups_skipped += len(scored) < 2 or max(scored) == min(scored)

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "excluded_samples": self.excluded,
            "groups": self.groups,
            "groups_skipped": self.groups_skipped,
            "first_errors": self.errors,
            "rollout_runs": self.rollout_runs,
        }


class OsimReward:
    """TRL reward function: the env's score of each completion (``None`` when it has none). Single-turn:
    scores the completion through the env; multi-turn: reads the score the rollout recorded."""

    def __init__(self, specs: Sequence[EpisodeSpec], stats: GRPOStats, num_generations: int) -> None:
        self.__name__ = "osim_judge"  # TRL names the reward's metrics after it
        self.specs = list(specs)
        self.stats = stats
        self.num_generations = num_generations
        self.scorer = EnvScorer({"backend": "grpo", "model": "trained"})

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        if "osim_score" in kwargs:
            scores, errors = list(kwargs["osim_score"]), list(kwargs["osim_error"])
        else:
            outcomes = [
                self.scorer.score(self.specs[i], _text(c))
                for i, c in zip(kwargs["spec_index"], completions, strict=True)
            ]
            scores, errors = [o.score for o in outcomes], [o.error for o in outcomes]
        before = (self.stats.excluded, self.stats.groups_skipped)
        self.stats.add(scores, errors, self.num_generations)
        log_metric = kwargs.get("log_metric")
        if log_metric is not None:
            log_metric("osim/excluded_samples", float(self.stats.excluded - before[0]))
            log_metric("osim/groups_skipped", float(self.stats.groups_skipped - before[1]))
        return scores


def _text(completion: Any) -> str:
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}]
        return str(completion[-1]["content"]) if completion else ""
    return str(completion)


class EpisodeRollouts:
    """TRL ``rollout_func``: one whole episode per prompt entry (TRL repeats each prompt
    ``num_generations`` times), played with the model being trained, written to the store."""

    def __init__(
        self,
        config: GRPORecipeConfig,
        specs: Sequence[EpisodeSpec],
        prompts: Sequence[Sequence[dict[str, str]]],
        tokenizer: Any,
        stats: GRPOStats,
        env_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        from policies import parse_spec

        self.config = config
        self.env_kwargs = dict(env_kwargs or {})
        self.specs = list(specs)
        self.index = {}
        for i, prompt in enumerate(prompts):
            self.index.setdefault(_key(prompt), i)
        self.tokenizer = tokenizer
        self.stats = stats
        self.others = {role: parse_spec(spec) for role, spec in partner_specs(config).items()}
        self.pool = EnvPool()
        self.played = 0  # episodes so far: each gets its own seed, so its own episode id in the store

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        specs = []
        for prompt in prompts:
            spec = self.specs[self.index[_key(prompt)]]
            specs.append(EpisodeSpec(**{**vars(spec), "seed": self.config.seed + 1_000_003 + self.played}))
            self.played += 1
        model = trainer.accelerator.unwrap_model(trainer.model)
        generate = hf_generator(
            model,
            self.tokenizer,
            max_new_tokens=self.config.max_completion_length,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
        )
        rollouts = play_episodes(
            specs,
            generate,
            self.tokenizer,
            others=self.others,
            max_total_tokens=self.config.max_episode_tokens,
            max_new_tokens=self.config.max_completion_length,
            pool=self.pool,
            policy_spec={"backend": "grpo", "model": self.config.model, "step": trainer.state.global_step},
        )
        if self.config.store:
            self.stats.rollout_runs.append(
                write_rollouts(
                    self.config.store,
                    rollouts,
                    step=trainer.state.global_step,
                    config=run_config(self.config),
                )
            )
        eos = self.tokenizer.eos_token_id
        # An episode that ended before the trained role spoke has no tokens: one masked token keeps the
        # batch rectangular; its reward is None, so it has no advantage either.
        return {
            "prompt_ids": [r.prompt_ids or [eos] for r in rollouts],
            "completion_ids": [r.completion_ids or [eos] for r in rollouts],
            "env_mask": [r.env_mask or [0] for r in rollouts],
            "logprobs": None,
            "osim_score": [r.score for r in rollouts],
            "osim_error": [r.error for r in rollouts],
        }


def _key(prompt: Sequence[dict[str, str]]) -> str:
    return json.dumps([[m["role"], m["content"]] for m in prompt])


def run_config(config: GRPORecipeConfig, env_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The replay-store run config of the training episodes (plus ``step`` per write); an env argument
    given from Python (a judge object) is named by its ``spec`` or class."""
    described = {
        k: getattr(v, "spec", None) or getattr(v, "__qualname__", type(v).__name__)
        for k, v in (env_kwargs or {}).items()
    }
    return {
        "env_kwargs": described,
        "purpose": "grpo rollouts",
        "env_id": config.env,
        "model": config.model,
        "output_dir": config.output_dir,
        "seed": config.seed,
        "options": env_options(config),
        "partners": partner_specs(config),
    }


def reward_text(stats: GRPOStats) -> Callable[[dict[str, Any], float], str | None]:
    """The progress bar's text: the reward mean ± std of the last logged step and the skipped groups."""

    def describe(logs: dict[str, Any], elapsed: float) -> str | None:
        if "reward" not in logs:
            return None
        mean, std = logs["reward"], logs.get("reward_std", float("nan"))
        text = f"reward {mean:.3f} ± {std:.3f}  skipped {stats.groups_skipped}/{stats.groups}"
        return text + (f"  no score {stats.excluded}" if stats.excluded else "")

    return describe


@dataclass
class GRPOData:
    """The episodes a run trains on: their specs, the prompts TRL sees, and the mode."""

    specs: list[EpisodeSpec]
    prompts: list[list[dict[str, str]]]
    mode: str

    def dataset(self) -> Any:
        import datasets

        return datasets.Dataset.from_list(
            [{"prompt": p, "spec_index": i} for i, p in enumerate(self.prompts)]
        )


def grpo_data(
    config: GRPORecipeConfig,
    scenarios: Sequence[Any] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> GRPOData:
    """``prompts`` episode specs of ``config.env`` and the trained role's first prompt of each;
    ``env_kwargs`` are env arguments the command line cannot give (a judge object)."""
    if not config.env:
        raise ValueError("GRPO needs an env id (env=...)")
    if config.prompts < 1:
        raise ValueError(f"prompts must be >= 1, got {config.prompts}")
    partner_specs(config)  # a malformed ROLE=SPEC fails here, before any model loads
    options = {**env_options(config), **dict(env_kwargs or {})}
    specs = episode_specs(
        config.env, scenarios, config.prompts, seed=config.seed, role=config.role, options=options
    )
    pool = EnvPool()
    try:
        prompts = [observation_prompt(s, pool) for s in specs]
    finally:
        pool.close()
    return GRPOData(specs, prompts, resolve_mode(config, env_kwargs))


def build_trainer(
    config: GRPORecipeConfig,
    scenarios: Sequence[Any] | None = None,
    *,
    callbacks: list[Any] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> tuple[Any, Any, GRPOData, GRPOStats]:
    """(trainer, tokenizer, data, stats): ``GRPOTrainer`` with the osim reward (and, for multi-turn
    tasks, the episode rollout)."""
    import os

    from trl import GRPOConfig, GRPOTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental in TRL 1.16
    data = grpo_data(config, scenarios, env_kwargs)
    model, tokenizer = load_model(config.model)
    tokenizer.padding_side = "left"
    stats = GRPOStats()
    args = GRPOConfig(
        **trainer_arguments(config),
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        top_p=config.top_p,
        beta=config.beta,
        remove_unused_columns=False,
        log_completions=False,
    )
    rollout = (
        EpisodeRollouts(config, data.specs, data.prompts, tokenizer, stats, env_kwargs)
        if data.mode == "multi"
        else None
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[OsimReward(data.specs, stats, config.num_generations)],
        args=args,
        train_dataset=data.dataset(),
        processing_class=tokenizer,
        peft_config=lora_config(config),
        callbacks=callbacks,
        rollout_func=rollout,
    )
    return trainer, tokenizer, data, stats


def reward_curve(trainer: Any) -> list[dict[str, float]]:
    """(step, reward mean, reward std) of every logged step; NaN (no scored sample) as ``None``."""
    out = []
    for h in trainer.state.log_history:
        if "reward" in h:
            mean, std = h["reward"], h.get("reward_std")
            out.append(
                {
                    "step": h.get("step"),
                    "reward": None if mean is None or math.isnan(mean) else float(mean),
                    "reward_std": None if std is None or math.isnan(std) else float(std),
                }
            )
    return out


def train_grpo(
    config: GRPORecipeConfig,
    *,
    scenarios: Sequence[Any] | None = None,
    callbacks: Sequence[Any] = (),
    env_kwargs: Mapping[str, Any] | None = None,
    on_eval: Callable[[int, str], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Train, save the final model to ``config.output_dir`` and return the JSON summary. ``scenarios``
    are the task rows (default: the env's fixture), ``callbacks`` extra ``TrainerCallback``s,
    ``env_kwargs`` env arguments such as ``judge=`` (a judge object). ``on_eval(step, checkpoint)`` runs
    every ``eval_every`` steps on a saved checkpoint (the CLI plays it through the runner into the
    store); its results are the summary's ``eval_curve``."""
    from learners.eval_every import EvalEvery  # (these load transformers)
    from learners.progress import RichProgress

    progress = RichProgress(enabled=config.progress, description="grpo")
    evaluator = None
    if on_eval is not None and config.eval_every > 0:
        evaluator = EvalEvery(config.eval_every, on_eval, config.output_dir)
        callbacks = [*callbacks, evaluator]
    trainer, tokenizer, data, stats = build_trainer(
        config, scenarios, callbacks=[progress, *callbacks], env_kwargs=env_kwargs
    )
    progress.describe = reward_text(stats)
    quiet_printer(trainer)
    resume = last_checkpoint(config.output_dir) if config.resume else None
    trainer.train(resume_from_checkpoint=resume)
    paths = save_final(trainer, tokenizer, config)
    summary = train_summary(
        trainer,
        config,
        recipe="grpo",
        mode=data.mode,
        resumed_from=resume,
        prompts=len(data.prompts),
        rewards=reward_curve(trainer),
        **stats.as_dict(),
        **paths,
    )
    if evaluator is not None:
        summary["eval_curve"] = evaluator.results
    return summary
