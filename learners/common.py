"""What every recipe shares: the training config fields, model loading, LoRA, device settings, saving.

Recipes (``learners.sft``, ``learners.distill``, and later GRPO) are one file each with one config
dataclass that extends ``TrainConfig``; ``osim train <recipe>`` turns its fields into flags. The TRL
arguments are derived here so that every recipe trains the same way on the same hardware: on a machine
without a GPU ``bf16=False`` and ``use_cpu=True``; logging goes nowhere but osim's own progress bar and
JSON summary (``report_to="none"``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class TrainConfig:
    """Fields shared by every recipe (each is a ``--flag`` of ``osim train``)."""

    model: str = field(default="tiny", metadata=_help("model to train: a directory, hub id, or 'tiny'"))
    output_dir: str = field(default="osim_runs/train", metadata=_help("checkpoints, final model, summary"))
    max_steps: int = field(default=-1, metadata=_help("optimizer steps (-1: num_train_epochs epochs)"))
    num_train_epochs: float = field(default=1.0, metadata=_help("epochs when max_steps is -1"))
    learning_rate: float = field(default=2e-5, metadata=_help("peak learning rate"))
    lr_scheduler_type: str = field(default="linear", metadata=_help("transformers scheduler name"))
    warmup_steps: int = field(default=0, metadata=_help("linear warm-up steps"))
    per_device_train_batch_size: int = field(default=8, metadata=_help("sequences per step and device"))
    gradient_accumulation_steps: int = field(default=1, metadata=_help("micro-batches per optimizer step"))
    max_length: int | None = field(default=2048, metadata=_help("tokens per sequence (longer: cut)"))
    seed: int = field(default=0, metadata=_help("seed of data order, mixture draws and init"))
    lora: bool = field(default=False, metadata=_help("train a LoRA adapter (peft) instead of all weights"))
    lora_r: int = field(default=16, metadata=_help("LoRA rank"))
    lora_alpha: int = field(default=32, metadata=_help("LoRA alpha"))
    lora_dropout: float = field(default=0.0, metadata=_help("LoRA dropout"))
    lora_target_modules: str = field(default="all-linear", metadata=_help("LoRA target modules (comma list)"))
    merge_lora: bool = field(default=False, metadata=_help("also save the merged model under OUTPUT/merged"))
    logging_steps: int = field(default=5, metadata=_help("steps between loss logs"))
    save_steps: int = field(default=100, metadata=_help("steps between checkpoints"))
    save_total_limit: int | None = field(default=2, metadata=_help("checkpoints kept"))
    resume: bool = field(default=False, metadata=_help("resume from the last checkpoint in output_dir"))
    progress: bool = field(default=True, metadata=_help("show the progress bar"))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def key_values(
    items: list[str], name: str, *, form: str = "KEY=VALUE", json_values: bool = True
) -> dict[str, Any]:
    """Repeated ``KEY=VALUE`` settings (env options, ``ROLE=SPEC`` partners) as a dict; with
    ``json_values`` a value is JSON where it parses (numbers, booleans, null), else the string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"{name} must look like {form}, got {item!r}")
        if json_values:
            try:
                out[key] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def has_gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def model_path(name: str) -> str:
    """``tiny`` names the locally built tiny model (``policies.tiny``); anything else is used as given."""
    if name == "tiny":
        from policies.spec import tiny_model_dir

        return str(tiny_model_dir())
    return name


def load_model(name: str) -> tuple[Any, Any]:
    """(model, tokenizer) to train; float32 on the CPU, bfloat16 on a GPU. The tokenizer gets a pad
    token (the end-of-sequence token) when it has none."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = model_path(name)
    dtype = torch.bfloat16 if has_gpu() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def lora_config(config: TrainConfig) -> Any:
    """The ``peft.LoraConfig`` of ``config``, or ``None`` when LoRA is off."""
    if not config.lora:
        return None
    from peft import LoraConfig

    targets = config.lora_target_modules
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets if targets == "all-linear" else [t.strip() for t in targets.split(",")],
        task_type="CAUSAL_LM",
    )


def trainer_arguments(config: TrainConfig) -> dict[str, Any]:
    """Keyword arguments of a TRL config (``SFTConfig``, ``DistillationConfig``, ...) for ``config``."""
    gpu = has_gpu()
    return {
        "output_dir": config.output_dir,
        "max_steps": config.max_steps,
        "num_train_epochs": config.num_train_epochs,
        "learning_rate": config.learning_rate,
        "lr_scheduler_type": config.lr_scheduler_type,
        "warmup_steps": config.warmup_steps,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "seed": config.seed,
        "data_seed": config.seed,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "report_to": "none",
        "disable_tqdm": True,  # osim's progress bar (learners.progress) shows loss and tokens/s instead
        "bf16": gpu,
        "use_cpu": not gpu,
        "gradient_checkpointing": False,
        "dataloader_num_workers": 0,
    }


def quiet_printer(trainer: Any) -> None:
    """Drop transformers' ``PrinterCallback`` (added with ``disable_tqdm``): it prints every log dict to
    stdout, where the command's JSON summary goes; the progress bar shows the loss instead."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` folder in ``output_dir``, if any."""
    from transformers.trainer_utils import get_last_checkpoint

    path = Path(output_dir)
    return get_last_checkpoint(str(path)) if path.is_dir() else None


def save_final(trainer: Any, tokenizer: Any, config: TrainConfig) -> dict[str, str]:
    """Save the trained model (the LoRA adapter when LoRA is on) and tokenizer to ``output_dir``;
    with ``merge_lora`` also the merged model under ``output_dir/merged``. ``hf:PATH`` and
    ``vllm:PATH`` load either (policies)."""
    out = Path(config.output_dir)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    paths = {"model": str(out)}
    model = trainer.model
    if config.lora and config.merge_lora and hasattr(model, "merge_and_unload"):
        merged = model.merge_and_unload()
        merged.save_pretrained(str(out / "merged"))
        tokenizer.save_pretrained(str(out / "merged"))
        paths["merged"] = str(out / "merged")
    return paths


def train_summary(trainer: Any, config: TrainConfig, *, recipe: str, **extra: Any) -> dict[str, Any]:
    """The JSON summary of a finished run: steps, losses, tokens and throughput, where the model is.
    Also written to ``output_dir/train_summary.json``."""
    history = trainer.state.log_history
    losses = [h["loss"] for h in history if "loss" in h]
    final = next((h for h in reversed(history) if "train_runtime" in h), {})
    tokens = max((h.get("num_tokens", 0) for h in history), default=0)
    runtime = float(final.get("train_runtime", 0.0))
    summary = {
        "recipe": recipe,
        "steps": trainer.state.global_step,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "train_loss": final.get("train_loss"),
        "tokens": int(tokens),
        "train_runtime_s": runtime,
        "tokens_per_s": (tokens / runtime) if runtime > 0 and tokens else None,
        "device": "cuda" if has_gpu() else "cpu",
        "config": config.to_json(),
        **extra,
    }
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
