"""On-policy distillation on TRL's ``DistillationTrainer``: ``osim train distill --mode on-policy``.

The student samples a completion for each prompt, a local teacher model scores the student's tokens,
and the loss is the per-token reverse KL, KL(student || teacher), over the whole vocabulary at every
sampled position (``beta=1.0`` of TRL's generalized JSD; Agarwal et al., 2024, "On-Policy Distillation
of Language Models"). TRL 1.16 promoted this trainer from ``trl.experimental.distillation`` to
``trl.DistillationTrainer``; it does the sampling, the teacher forward and the loss.

Prompts are osim task prompts, not a text file: the first observation of a policy role of each env
(``task_prompts``), rendered by the env exactly as a policy would see it. Teacher and student must
share a vocabulary. Forward distillation (a teacher plays tasks, its good episodes become SFT data)
drives the runner and so lives in the app (``osim.distill``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from learners.common import (
    TrainConfig,
    last_checkpoint,
    load_model,
    lora_config,
    model_path,
    quiet_printer,
    save_final,
    train_summary,
    trainer_arguments,
)


@dataclass
class OnPolicyDistillConfig(TrainConfig):
    """``osim train distill --mode on-policy``: the shared fields plus teacher, prompts and sampling."""

    teacher: str = field(default="", metadata={"help": "local teacher model (directory or hub id)"})
    env: list[str] = field(
        default_factory=list, metadata={"help": "env id whose prompts to use (repeatable)"}
    )
    prompts: int = field(default=16, metadata={"help": "prompts per env (seeds seed, seed+1, ...)"})
    max_completion_length: int = field(default=64, metadata={"help": "tokens the student samples"})
    temperature: float = field(default=1.0, metadata={"help": "sampling and loss temperature"})
    beta: float = field(default=1.0, metadata={"help": "1.0 reverse KL, 0.0 forward KL, else JSD"})
    learning_rate: float = field(default=1e-4, metadata={"help": "peak learning rate"})


def task_prompts(env_ids: Sequence[str], n: int, *, seed: int = 0) -> list[list[dict[str, str]]]:
    """The chat prompt a policy role sees at the start of ``n`` episodes (seeds ``seed..``) of each env.

    The acting agent is the env's first selected agent when it is a policy role, else its first policy
    role; auxiliary roles (partners, judges) are not trained."""
    import osim_env

    prompts = []
    for env_id in env_ids:
        env = osim_env.make(env_id, judge=False)
        for i in range(n):
            env.reset(seed=seed + i)
            raw = env.unwrapped
            roles = raw.policy_agents()
            agent = env.agent_selection if env.agent_selection in roles else roles[0]
            prompts.append([dict(m) for m in env.observe(agent)["messages"]])
        env.close()
    return prompts


def build_trainer(
    config: OnPolicyDistillConfig,
    prompts: Sequence[Sequence[dict[str, str]]],
    *,
    callbacks: list[Any] | None = None,
) -> tuple[Any, Any]:
    """(trainer, tokenizer): ``DistillationTrainer`` with the student, the teacher and the prompts."""
    import datasets
    from transformers import AutoModelForCausalLM
    from trl import DistillationConfig, DistillationTrainer

    if not config.teacher:
        raise ValueError("on-policy distillation needs a teacher model (teacher=...)")
    if not prompts:
        raise ValueError("on-policy distillation needs prompts (env=...)")
    student, tokenizer = load_model(config.model)
    tokenizer.padding_side = "left"
    teacher = AutoModelForCausalLM.from_pretrained(model_path(config.teacher), dtype=student.dtype)
    if teacher.config.vocab_size != student.config.vocab_size:
        raise ValueError(
            f"teacher and student must share a vocabulary: {teacher.config.vocab_size} vs "
            f"{student.config.vocab_size} tokens"
        )
    args = DistillationConfig(
        **trainer_arguments(config),
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        beta=config.beta,
    )
    trainer = DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=args,
        train_dataset=datasets.Dataset.from_list([{"prompt": list(p)} for p in prompts]),
        processing_class=tokenizer,
        peft_config=lora_config(config),
        callbacks=callbacks,
    )
    return trainer, tokenizer


def train_on_policy(config: OnPolicyDistillConfig) -> dict[str, Any]:
    """Distill on the prompts of ``config.env``, save the student, return the JSON summary."""
    from learners.progress import RichProgress

    prompts = task_prompts(config.env, config.prompts, seed=config.seed)
    trainer, tokenizer = build_trainer(config, prompts, callbacks=[RichProgress(enabled=config.progress)])
    quiet_printer(trainer)
    resume = last_checkpoint(config.output_dir) if config.resume else None
    trainer.train(resume_from_checkpoint=resume)
    paths = save_final(trainer, tokenizer, config)
    return train_summary(
        trainer, config, recipe="distill-on-policy", resumed_from=resume, prompts=len(prompts), **paths
    )


def reverse_kl_per_token(
    student: Any,
    teacher: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[dict[str, str]]],
    *,
    max_new_tokens: int = 32,
    seed: int = 0,
) -> float:
    """Mean per-token KL(student || teacher) over the whole vocabulary, at the positions of completions
    the student samples (temperature 1, seeded) for ``prompts``: the quantity on-policy distillation
    minimizes, measured outside the trainer."""
    import torch

    total, count = 0.0, 0
    student.eval()
    generator_state = torch.random.get_rng_state()
    try:
        for i, prompt in enumerate(prompts):
            text = tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
            ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(
                student.device
            )
            torch.manual_seed(seed + i)
            with torch.no_grad():
                out = student.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    do_sample=True,
                    temperature=1.0,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                )
                n_new = out.shape[1] - ids.shape[1]
                if n_new == 0:
                    continue
                s = torch.log_softmax(student(out).logits[0, ids.shape[1] - 1 : -1].float(), dim=-1)
                t = torch.log_softmax(teacher(out).logits[0, ids.shape[1] - 1 : -1].float(), dim=-1)
            total += float((s.exp() * (s - t)).sum())
            count += n_new
    finally:
        torch.random.set_rng_state(generator_state)
    return total / max(1, count)
