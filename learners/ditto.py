"""Verbal-feedback RL (Ditto) on osim envs: ``osim train ditto`` or ``train_ditto(DittoConfig(...))``.

For each prompt x (a scenario of the env), one step of the recipe (README "Train"; the feedback event:
docs/tasks.md, the writers: docs/judges.md#feedback):

1. G drafts y_{i,0} ~ π(·|x): G episodes of the scenario, judged by the env's own judge (one scale).
2. The gate (``feedback_gate``: ``all`` or ``below:t``) picks drafts for feedback; error episodes none.
3. The task's feedback writer (``scenarios/<task>/feedback.py``, with its leakage check) writes h_i.
4. One refined rollout per feedback: the same scenario, the seed derived from the draft's seed and
   ``"refined"``, h_i as a private ``feedback`` event of the policy agents (``reset(options=...)``).
5. The joint group {y_{i,0}} ∪ {y_{i,1}} (G + k members, error episodes dropped), trained under x: a
   refined sample's prompt is its episode rendered without feedback. Advantages per eq. 6
   (``learners.ditto_objective``), the clipped token-level surrogate (clip 0.2), no KL term.
6. The feedback group: the refined samples alone under (x, h_i), advantages within that group, L_fb.
   L = L_group + L_fb; a group of fewer than 2 members or σ = 0 has zero advantage ("skipped").
7. Multi-agent episodes (CoSER): every turn of every policy-played agent is a training sequence with its
   episode's advantage; the statistics count each episode once.

Why not ``trl.GRPOTrainer``: its groups are G completions of one prompt scored independently, with
one advantage normalization per prompt. Ditto's joint group mixes samples drawn under two prompts
(x and (x, h)) but trained under one, needs a second group (L_fb) over a subset under the other
prompt, and its members are whole (multi-agent, multi-turn) episodes; GRPOTrainer can express none of
these. The loop here is a plain torch loop that uses TRL's ``selective_log_softmax`` and ``pad``.

With ``num_iterations=1`` (the default) every rollout is trained on once, right after it was sampled,
so the old log-probs π_old are the current ones detached (as in TRL); with more iterations they are
recomputed once per step under the same prompts with the rollout weights, before the first update.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learners.common import (
    TrainConfig,
    has_gpu,
    key_values,
    last_checkpoint,
    load_model,
    lora_config,
    model_path,
)
from learners.ditto_objective import (
    Member,
    broadcast,
    clipped_token_loss,
    feedback_group,
    is_degenerate,
    joint_group,
    member_advantages,
)
from learners.ditto_rollouts import Generator, Rollout, play
from learners.env_rollouts import EnvPool
from osim_env.seeding import derive_seed

STATE_FILE = "ditto_state.pt"


@dataclass
class DittoConfig(TrainConfig):
    """``osim train ditto``: the shared fields plus the env, the groups, the gate and the feedback writer.
    Defaults follow the paper (group 8, clip 0.2, no KL, learning rate 5e-6 constant).

    One optimizer step trains on ``prompts_per_step × gradient_accumulation_steps`` prompts (scenarios
    in order, cycling); ``per_device_train_batch_size`` is the number of sequences per forward pass;
    ``max_length`` cuts prompt + completion; with ``max_steps`` -1 the run is ``num_train_epochs``
    passes over the scenarios."""

    env: str = field(default="", metadata={"help": "env id to train on (soul/<task>-v0)"})
    task_data: str | None = field(default=None, metadata={"help": "rows file (default: the env's fixture)"})
    env_option: list[str] = field(
        default_factory=list, metadata={"help": "env option KEY=VALUE (JSON value; repeatable)"}
    )
    group_size: int = field(default=8, metadata={"help": "drafts per prompt (G)"})
    prompts_per_step: int = field(default=2, metadata={"help": "prompts (scenarios) per rollout batch"})
    feedback_gate: str = field(default="all", metadata={"help": "drafts that get feedback: all | below:T"})
    feedback_model: str | None = field(
        default=None, metadata={"help": "policy spec of an LLM feedback writer (default: the task's, tiny)"}
    )
    max_completion_length: int = field(default=64, metadata={"help": "tokens sampled per turn"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    clip_range: float = field(default=0.2, metadata={"help": "PPO clip range ε of the ratio"})
    num_iterations: int = field(default=1, metadata={"help": "updates per rollout batch"})
    eval_every: int = field(default=0, metadata={"help": "steps between --eval runs (0: only at the end)"})
    learning_rate: float = field(default=5e-6, metadata={"help": "peak learning rate"})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "transformers scheduler name"})
    logging_steps: int = field(default=1, metadata={"help": "steps between progress updates"})


# -- data: scenarios, env options, the task's feedback writer -------------------------------------------
def env_options(config: DittoConfig) -> dict[str, Any]:
    """``env_option`` as a dict: JSON values where they parse (numbers, booleans), else strings."""
    return key_values(config.env_option, "env_option")


def scenarios_of(config: DittoConfig) -> list[Any]:
    """The rows to train on: ``task_data`` read by the task's loader, else the env's fixture."""
    import osim_env

    raw = osim_env.make_raw(config.env, **env_options(config))
    rows = raw.data_rows(config.task_data) if config.task_data else raw.candidate_scenarios()
    if not rows:
        raise ValueError(f"{config.env}: no scenario to train on")
    return rows


def _writer_factory(env_id: str) -> tuple[Callable[..., Any], bool]:
    """The task's ``default_feedback_writer`` and whether it takes a model (rule-based ones do not)."""
    import inspect

    import osim_env

    module = importlib.import_module(f"{osim_env.make_raw(env_id).task_package}.feedback")
    factory = module.default_feedback_writer
    return factory, bool(inspect.signature(factory).parameters)


def feedback_writer(env_id: str, model: str | None = None) -> Any:
    """The task's feedback writer (``scenarios/<task>/feedback.py``); ``model`` is the LLM spec of
    writers that use one (``None``: the task's default, the local tiny model)."""
    factory, takes_model = _writer_factory(env_id)
    if model is not None and not takes_model:
        raise ValueError(f"{env_id}: the feedback writer is rule-based and takes no feedback_model")
    return factory(model) if takes_model else factory()


def check_config(config: DittoConfig) -> None:
    """Mistakes in a config, found before any model loads (``ValueError`` with the reason)."""
    if not config.env:
        raise ValueError("ditto needs an env (env=soul/<task>-v0)")
    for name in ("group_size", "prompts_per_step", "num_iterations"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    gate = config.feedback_gate
    if gate != "all":
        threshold = gate.removeprefix("below:")
        try:
            float(threshold)
        except ValueError:
            threshold = ""
        if not gate.startswith("below:") or not threshold:
            raise ValueError(f"feedback_gate must be 'all' or 'below:<t>', got {gate!r}")
    if not 0 < config.clip_range < 1:
        raise ValueError(f"clip_range must be in (0, 1), got {config.clip_range}")
    import osim_env

    try:
        osim_env.make_raw(config.env, **env_options(config))  # an unknown option or value; loads no model
    except TypeError as exc:
        raise ValueError(f"{config.env}: {exc}") from exc
    if config.feedback_model is not None and not _writer_factory(config.env)[1]:
        raise ValueError(f"{config.env}: the feedback writer is rule-based and takes no feedback_model")


def gate_and_write(drafts: Sequence[Rollout], writer: Any, gate: str) -> tuple[list[int], list[str], int]:
    """(indices of the drafts that got feedback, their feedback texts, feedback failures): the gate,
    then the writer (with its leakage check and one regeneration) on the gated drafts."""
    from judges.feedback import gate_allows
    from osim_env.aio import run_sync

    gated = [i for i, d in enumerate(drafts) if d.error is None and gate_allows(d.judgment, gate)]
    results = run_sync(writer.feedback_batch([(drafts[i].record, drafts[i].judgment) for i in gated]))
    kept = [(i, r.feedback.critique) for i, r in zip(gated, results) if r.feedback is not None]
    return [i for i, _ in kept], [h for _, h in kept], len(gated) - len(kept)


# -- groups and training sequences ----------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSequence:
    """One training sequence: prompt ids, completion ids, its advantage and which loss it is in."""

    loss: str  # "group" (under x) or "feedback" (under (x, h))
    prompt: tuple[int, ...]
    completion: tuple[int, ...]
    advantage: float


@dataclass
class GroupResult:
    """The sequences of one prompt's two groups and what the progress bar and summary report."""

    sequences: list[TrainSequence]
    draft_rewards: list[float]
    refined_rewards: list[float]
    skipped: bool
    errors: int


def build_sequences(
    drafts: Sequence[Rollout], refined: Sequence[Rollout], prompt_ids: Callable[[Any], list[int]]
) -> GroupResult:
    """The joint group under x (refined samples rendered without their feedback) and the feedback
    group under (x, h), each with its eq. 6 advantages broadcast to every policy turn of an episode."""
    episodes = {("draft", i): r for i, r in enumerate(drafts)} | {
        ("refined", i): r for i, r in enumerate(refined)
    }
    d = [Member(("draft", i), r.reward) for i, r in enumerate(drafts)]
    f = [Member(("refined", i), r.reward, refined=True) for i, r in enumerate(refined)]
    joint, fb = joint_group(d, f), feedback_group(f)
    sequences = []
    for loss, members in (("group", joint), ("feedback", fb)):
        advantages = member_advantages(members)
        turns = {m.key: len(episodes[m.key].turns) for m in members}
        keyed = broadcast(advantages, turns)
        seen: dict[Any, int] = {}
        for key, advantage in keyed:
            k = seen[key] = seen.get(key, -1) + 1
            turn = episodes[key].turns[k]
            messages = turn.prompt if loss == "group" else turn.prompt_seen
            sequences.append(TrainSequence(loss, tuple(prompt_ids(messages)), turn.completion_ids, advantage))
    return GroupResult(
        sequences,
        [float(r.reward) for r in drafts if r.reward is not None],
        [float(r.reward) for r in refined if r.reward is not None],
        is_degenerate(joint),
        sum(r.error is not None for r in (*drafts, *refined)),
    )


# -- log-probs and the loss -----------------------------------------------------------------------------
def sequence_logps(
    model: Any, sequences: Sequence[TrainSequence], pad_id: int, max_length: int | None
) -> tuple[Any, Any]:
    """(per-token log-probs of the completion tokens, completion mask), both (sequences, tokens)."""
    import torch
    from trl.trainer.utils import pad, selective_log_softmax

    ids, masks = [], []
    for s in sequences:
        full = list(s.prompt) + list(s.completion)
        mask = [0] * len(s.prompt) + [1] * len(s.completion)
        if max_length:
            full, mask = full[:max_length], mask[:max_length]
        ids.append(torch.tensor(full))
        masks.append(torch.tensor(mask))
    input_ids = pad(ids, padding_value=pad_id).to(model.device)
    attention = pad([torch.ones_like(i) for i in ids], padding_value=0).to(model.device)
    mask = pad(masks, padding_value=0).to(model.device)
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
    logps = selective_log_softmax(logits, input_ids[:, 1:])
    return logps, mask[:, 1:].to(logps.dtype)


def completion_tokens(sequences: Sequence[TrainSequence], max_length: int | None) -> int:
    total = 0
    for s in sequences:
        n = len(s.prompt) + len(s.completion)
        total += max(0, len(s.completion) - max(0, n - max_length)) if max_length else len(s.completion)
    return total


# -- the recipe -----------------------------------------------------------------------------------------
@dataclass
class StepStats:
    step: int
    reward_mean: float | None
    reward_std: float | None
    refined_mean: float | None
    groups: int
    groups_skipped: int
    feedback: int
    feedback_failed: int
    errors: int
    loss: float
    tokens: int


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


class DittoTrainer:
    """The loop: rollouts, feedback, refined rollouts, groups, one optimizer step per batch."""

    def __init__(self, config: DittoConfig, *, writer: Any = None) -> None:
        import torch
        from transformers import get_scheduler

        check_config(config)
        self.config = config
        self.options = env_options(config)
        self.rows = scenarios_of(config)
        self.writer = writer if writer is not None else feedback_writer(config.env, config.feedback_model)
        torch.manual_seed(config.seed)
        self.resumed_from = last_checkpoint(config.output_dir) if config.resume else None
        self.model, self.tokenizer = self._load(self.resumed_from)
        self.tokenizer.padding_side = "left"
        self.generate = Generator(
            self.model,
            self.tokenizer,
            max_new_tokens=config.max_completion_length,
            temperature=config.temperature,
        )
        self.total_steps = self._total_steps()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate)
        updates = self.total_steps * config.num_iterations  # the scheduler steps once per update
        self.scheduler = get_scheduler(
            config.lr_scheduler_type, self.optimizer, config.warmup_steps * config.num_iterations, updates
        )
        self.step = 0
        self.history: list[StepStats] = []
        self.auxiliary: dict[str, Any] = {}
        self.pool = EnvPool()
        if self.resumed_from:
            state = torch.load(Path(self.resumed_from) / STATE_FILE, weights_only=False)
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.step = int(state["step"])
            self.history = [StepStats(**h) for h in state["history"]]

    def _load(self, checkpoint: str | None) -> tuple[Any, Any]:
        config = self.config
        if checkpoint is None:
            model, tokenizer = load_model(config.model)
            peft = lora_config(config)
            if peft is not None:
                from peft import get_peft_model

                model = get_peft_model(model, peft)
            return model, tokenizer
        if config.lora:
            from peft import PeftModel

            model, tokenizer = load_model(config.model)
            return PeftModel.from_pretrained(model, checkpoint, is_trainable=True), tokenizer
        return load_model(checkpoint)

    def _total_steps(self) -> int:
        c = self.config
        if c.max_steps > 0:
            return c.max_steps
        per_step = c.prompts_per_step * c.gradient_accumulation_steps
        return max(1, math.ceil(c.num_train_epochs * len(self.rows) / per_step))

    # -- one prompt ---------------------------------------------------------------------------------------
    def rollout_group(self, row_index: int, label: Any) -> tuple[GroupResult, int, int]:
        """(groups of one prompt, feedback written, feedback failed) for scenario ``row_index``."""
        c = self.config
        seeds = [derive_seed(c.seed, "ditto", label, i) for i in range(c.group_size)]
        common = {"env_options": self.options, "auxiliary": self.auxiliary, "pool": self.pool}
        drafts = play(
            c.env, self.rows[row_index], seeds, self.generate,
            sample_seed=derive_seed(c.seed, "drafts", label), **common,
        )  # fmt: skip
        chosen, texts, failed = gate_and_write(drafts, self.writer, c.feedback_gate)
        refined = play(
            c.env, self.rows[row_index], [drafts[i].refined_seed for i in chosen], self.generate,
            feedbacks=texts, sample_seed=derive_seed(c.seed, "refined", label), **common,
        )  # fmt: skip
        return build_sequences(drafts, refined, self.generate.prompt_ids), len(texts), failed

    # -- one optimizer step -------------------------------------------------------------------------------
    def train_step(self) -> StepStats:
        c = self.config
        self.model.train()
        groups: list[GroupResult] = []
        feedback = failed = 0
        per_step = c.prompts_per_step * c.gradient_accumulation_steps
        for k in range(per_step):
            index = (self.step * per_step + k) % len(self.rows)
            epoch = (self.step * per_step + k) // len(self.rows)
            group, n_feedback, n_failed = self.rollout_group(index, (self.step, k, epoch))
            groups.append(group)
            feedback, failed = feedback + n_feedback, failed + n_failed
        loss, tokens = self._update(groups)
        rewards = [r for g in groups for r in g.draft_rewards]
        refined = [r for g in groups for r in g.refined_rewards]
        mean, std = _mean_std(rewards)
        stats = StepStats(
            step=self.step + 1, reward_mean=mean, reward_std=std, refined_mean=_mean_std(refined)[0],
            groups=len(groups), groups_skipped=sum(g.skipped for g in groups), feedback=feedback,
            feedback_failed=failed, errors=sum(g.errors for g in groups), loss=loss, tokens=tokens,
        )  # fmt: skip
        self.step += 1
        self.history.append(stats)
        return stats

    def _update(self, groups: Sequence[GroupResult]) -> tuple[float, int]:
        """``num_iterations`` optimizer steps on L = L_group + L_fb, each the mean over the step's prompts
        of its group's token-level loss (divided by the completion tokens of all the group's members,
        zero-advantage ones included; those are not run through the model, as they add nothing to the
        loss or the gradient)."""
        import torch

        c = self.config
        active: list[tuple[TrainSequence, int]] = []  # (sequence, its divisor: group tokens x prompts)
        tokens = 0
        for group in groups:
            for kind in ("group", "feedback"):
                members = [s for s in group.sequences if s.loss == kind]
                count = completion_tokens(members, c.max_length)
                tokens += count
                active += [(s, count * len(groups)) for s in members if s.advantage != 0.0]
        size = c.per_device_train_batch_size
        batches = [active[i : i + size] for i in range(0, len(active), size)]
        pad_id = self.tokenizer.pad_token_id
        old: list[Any] = [None] * len(batches)
        if c.num_iterations > 1:  # π_old: the rollout weights, before the first update
            with torch.no_grad():
                old = [
                    sequence_logps(self.model, [s for s, _ in b], pad_id, c.max_length)[0] for b in batches
                ]
        total = 0.0
        for _ in range(c.num_iterations):
            self.optimizer.zero_grad()
            total = 0.0
            for batch, old_logps in zip(batches, old):
                logps, mask = sequence_logps(self.model, [s for s, _ in batch], pad_id, c.max_length)
                reference = logps.detach() if old_logps is None else old_logps
                adv = torch.tensor([s.advantage for s, _ in batch], dtype=logps.dtype, device=logps.device)
                divisors = torch.tensor([d for _, d in batch], dtype=logps.dtype, device=logps.device)
                loss = clipped_token_loss(logps, reference, adv, mask, c.clip_range, num_tokens=divisors)
                loss.backward()
                total += float(loss.detach())
            self.optimizer.step()  # parameters without a gradient (no active sequence) are left as they are
            self.scheduler.step()
        return total, tokens

    # -- saving -------------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> str:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))
        return str(out)

    def save_checkpoint(self) -> str:
        import torch

        path = Path(self.config.output_dir) / f"checkpoint-{self.step}"
        self.save(path)
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "history": [vars(h) for h in self.history],
        }
        torch.save(state, path / STATE_FILE)
        self._prune_checkpoints()
        return str(path)

    def _prune_checkpoints(self) -> None:
        import shutil

        limit = self.config.save_total_limit
        if not limit:
            return
        found = sorted(
            Path(self.config.output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])
        )
        for old in found[:-limit]:
            shutil.rmtree(old)

    def save_final(self) -> dict[str, str]:
        out = Path(self.config.output_dir)
        paths = {"model": self.save(out)}
        if self.config.lora and self.config.merge_lora and hasattr(self.model, "merge_and_unload"):
            merged = self.model.merge_and_unload()
            merged.save_pretrained(str(out / "merged"))
            self.tokenizer.save_pretrained(str(out / "merged"))
            paths["merged"] = str(out / "merged")
        return paths


# -- progress bar ---------------------------------------------------------------------------------------
class _Bar:
    """Steps with the draft reward mean ± std, refined mean and groups skipped, on stderr."""

    def __init__(self, enabled: bool, total: int, done: int) -> None:
        self.progress: Any = None
        if not enabled:
            return
        from learners.progress import open_bar

        self.progress, self.task = open_bar("ditto", total, done)

    def update(self, stats: StepStats, show: bool) -> None:
        if self.progress is None:
            return
        text = None
        if show:
            mean = "n/a" if stats.reward_mean is None else f"{stats.reward_mean:.3f}±{stats.reward_std:.3f}"
            text = f"reward {mean}  skipped {stats.groups_skipped}/{stats.groups}  feedback {stats.feedback}"
        self.progress.update(self.task, completed=stats.step, **({"stats": text} if text else {}))

    def close(self) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)


def train_ditto(
    config: DittoConfig,
    *,
    writer: Any = None,
    on_eval: Callable[[int, str], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Train, save the final model to ``config.output_dir`` and return the JSON summary. ``on_eval(step,
    checkpoint)`` runs every ``eval_every`` steps on a saved checkpoint (the CLI plays it through the
    runner into the store); ``writer`` replaces the task's feedback writer."""
    trainer = DittoTrainer(config, writer=writer)
    start = time.perf_counter()
    bar = _Bar(config.progress, trainer.total_steps, trainer.step)
    evals = []
    try:
        while trainer.step < trainer.total_steps:
            stats = trainer.train_step()
            bar.update(stats, show=stats.step % max(1, config.logging_steps) == 0)
            saved = None
            if config.save_steps > 0 and stats.step % config.save_steps == 0:
                saved = trainer.save_checkpoint()
            if on_eval is not None and config.eval_every > 0 and stats.step % config.eval_every == 0:
                evals.append(
                    {"step": stats.step, "results": on_eval(stats.step, saved or trainer.save_checkpoint())}
                )
    finally:
        bar.close()
        trainer.pool.close()
    runtime = time.perf_counter() - start
    paths = trainer.save_final()
    history = [vars(h) for h in trainer.history]
    rewards = [h["reward_mean"] for h in history if h["reward_mean"] is not None]
    tokens = sum(h["tokens"] for h in history)
    summary = {
        "recipe": "ditto",
        "env": config.env,
        "steps": trainer.step,
        "first_reward_mean": rewards[0] if rewards else None,
        "last_reward_mean": rewards[-1] if rewards else None,
        "groups": sum(h["groups"] for h in history),
        "groups_skipped": sum(h["groups_skipped"] for h in history),
        "feedback": sum(h["feedback"] for h in history),
        "feedback_failed": sum(h["feedback_failed"] for h in history),
        "error_episodes": sum(h["errors"] for h in history),
        "tokens": tokens,
        "train_runtime_s": runtime,
        "tokens_per_s": tokens / runtime if runtime > 0 and tokens else None,
        "device": "cuda" if has_gpu() else "cpu",
        "feedback_writer": getattr(trainer.writer, "spec", None),
        "history": history,
        "evals": evals,
        "resumed_from": trainer.resumed_from,
        "config": config.to_json(),
        "model_source": model_path(config.model),
        **paths,
    }
    out = Path(config.output_dir)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
