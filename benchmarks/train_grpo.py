"""Seconds per step of ``osim train grpo`` against TRL's ``GRPOTrainer`` used directly.

Both train the same model on the same single-turn prompts (Hi-ToM's fixture rows as the env renders
them) with the same batch, group size, completion length, learning rate, seed and CPU/GPU settings.
osim scores each completion through the env (reset with the row, step, read the judge's score); the
direct run scores it with a plain function that extracts the ``<answer>`` letter and compares it with
the row's gold, the same rule. Seconds per step are the trainer's ``train_runtime`` over its steps;
runs alternate and the best of ``--repeats`` is kept for each side.

Prints one JSON object: {"osim_s_per_step", "trl_s_per_step", "overhead", ...}. Target: overhead <= 5%.

    python benchmarks/train_grpo.py                 # the tiny local model, on the CPU
    python benchmarks/train_grpo.py --model PATH --steps 20
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

ENV_ID = "soul/hitom-v0"
ANSWER = re.compile(r"<answer>\s*([A-Z])\s*</answer>")


def run_osim(model: str, args: argparse.Namespace, out: Path) -> dict:
    from osim.cli import main

    argv = [
        "train", "grpo", "--env", ENV_ID, "--model", model, "--output-dir", str(out),
        "--max-steps", str(args.steps), "--per-device-train-batch-size", str(args.batch),
        "--num-generations", str(args.generations), "--max-completion-length", str(args.completion),
        "--prompts", str(args.prompts), "--learning-rate", "1e-5", "--logging-steps", "1",
        "--save-steps", "100000", "--no-progress", "--store", str(out / "store.duckdb"),
    ]  # fmt: skip
    stdout = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(stdout):
        assert main(argv) == 0
    summary = json.loads(stdout.getvalue())
    return {
        "s_per_step": summary["train_runtime_s"] / summary["steps"],
        "steps": summary["steps"],
        "wall_s": time.perf_counter() - start,
    }


def run_trl(model: str, args: argparse.Namespace, out: Path) -> dict:
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    from learners.common import has_gpu, load_model, quiet_printer
    from learners.env_rollouts import episode_specs, observation_prompt

    start = time.perf_counter()
    specs = episode_specs(ENV_ID, None, args.prompts, seed=0)
    rows = [{"prompt": observation_prompt(s), "gold": s.scenario.row.gold} for s in specs]

    def answer_matches(prompts, completions, gold, **kwargs):
        out = []
        for completion, letter in zip(completions, gold, strict=True):
            found = ANSWER.search(completion[-1]["content"])
            out.append(float(found is not None and found.group(1) == letter))
        return out

    model_obj, tokenizer = load_model(model)
    tokenizer.padding_side = "left"
    gpu = has_gpu()
    config = GRPOConfig(
        output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch, learning_rate=1e-5,
        num_generations=args.generations, max_completion_length=args.completion, logging_steps=1,
        save_strategy="no", report_to="none", disable_tqdm=True, bf16=gpu, use_cpu=not gpu, seed=0,
        data_seed=0, gradient_checkpointing=False, dataloader_num_workers=0, remove_unused_columns=False,
        beta=0.0, temperature=1.0, top_p=1.0, log_completions=False,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=model_obj,
        reward_funcs=[answer_matches],
        args=config,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    quiet_printer(trainer)
    trainer.train()
    history = trainer.state.log_history
    runtime = next(h["train_runtime"] for h in reversed(history) if "train_runtime" in h)
    return {
        "s_per_step": runtime / trainer.state.global_step,
        "steps": trainer.state.global_step,
        "wall_s": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="model directory (default: the tiny local model)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--completion", type=int, default=32)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from learners.common import has_gpu, model_path

    model = model_path(args.model)
    osim_runs, trl_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):  # alternate which side goes first: load on a shared machine drifts
            order = ("trl", "osim") if i % 2 == 0 else ("osim", "trl")
            for side in order:
                if side == "trl":
                    trl_runs.append(run_trl(model, args, Path(tmp) / f"trl{i}"))
                else:
                    osim_runs.append(run_osim(model, args, Path(tmp) / f"osim{i}"))
    best_osim = min(r["s_per_step"] for r in osim_runs)
    best_trl = min(r["s_per_step"] for r in trl_runs)
    print(
        json.dumps(
            {
                "model": model,
                "device": "cuda" if has_gpu() else "cpu",
                "env": ENV_ID,
                "steps": args.steps,
                "batch": args.batch,
                "num_generations": args.generations,
                "max_completion_length": args.completion,
                "osim_s_per_step": round(best_osim, 4),
                "trl_s_per_step": round(best_trl, 4),
                "overhead": round(best_osim / best_trl - 1, 4),
                "target_overhead": 0.05,
                "osim_runs": osim_runs,
                "trl_runs": trl_runs,
            }
        )
    )


if __name__ == "__main__":
    main()
