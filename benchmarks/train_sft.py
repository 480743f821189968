"""Training throughput of ``osim train sft`` against TRL's ``SFTTrainer`` used directly.

Both train the same model on the same conversations with the same batch size, steps, learning rate
and CPU/GPU settings. osim tokenizes each conversation itself (labels on every target turn) and hands
``SFTTrainer`` the token ids; the direct run gives ``SFTTrainer`` the ``messages`` column and lets it
tokenize (full-sequence loss: the tiny model's template has no generation markers for
``assistant_only_loss``). Throughput is TRL's own count of trained tokens (``num_tokens``) over the
trainer's ``train_runtime``; runs alternate and the best of ``--repeats`` is kept for each side.

Prints one JSON object: {"osim_tokens_per_s", "trl_tokens_per_s", "ratio", ...}. Target: ratio >= 0.95.

    python benchmarks/train_sft.py                 # the tiny local model, on the CPU
    python benchmarks/train_sft.py --model PATH --steps 50
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TOPICS = ("the rent", "the blue crate", "the cafe", "my bike", "the meeting", "the kitchen", "the key")


def conversations(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        a, b = TOPICS[i % len(TOPICS)], TOPICS[(i * 3 + 1) % len(TOPICS)]
        rows.append(
            {
                "data_source": "chats",
                "messages": [
                    {"role": "system", "content": "You are Sam, a busy nurse who writes short messages."},
                    {
                        "role": "user",
                        "content": f"Can you help me with {a}? I have been stuck on it all week.",
                    },
                    {
                        "role": "assistant",
                        "content": f"Of course. For {a}, start with a list of what you need.",
                    },
                    {"role": "user", "content": f"And what about {b}? Cheers, Sam!"},
                    {"role": "assistant", "content": f"For {b}, ask early and keep a copy of everything."},
                ],
            }
        )
    return rows


def run_osim(path: Path, model: str, args: argparse.Namespace, out: Path) -> dict:
    from osim.cli import main

    argv = [
        "train", "sft", "--data", str(path), "--model", model, "--output-dir", str(out),
        "--max-steps", str(args.steps), "--per-device-train-batch-size", str(args.batch),
        "--learning-rate", "1e-4", "--logging-steps", "5", "--save-steps", "100000", "--no-progress",
    ]  # fmt: skip
    stdout = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(stdout):
        assert main(argv) == 0
    summary = json.loads(stdout.getvalue())
    return {
        "tokens_per_s": summary["tokens_per_s"],
        "tokens": summary["tokens"],
        "wall_s": time.perf_counter() - start,
    }


def run_trl(rows: list[dict], model: str, args: argparse.Namespace, out: Path) -> dict:
    import datasets
    from trl import SFTConfig, SFTTrainer

    from learners.common import load_model, quiet_printer

    start = time.perf_counter()
    model_obj, tokenizer = load_model(model)
    config = SFTConfig(
        output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch, learning_rate=1e-4,
        logging_steps=5, save_strategy="no", report_to="none", disable_tqdm=True, max_length=2048,
        bf16=False, use_cpu=True, gradient_checkpointing=False, seed=0,
    )  # fmt: skip
    if model_obj.device.type == "cuda":
        config = SFTConfig(**{**config.to_dict(), "bf16": True, "use_cpu": False})
    dataset = datasets.Dataset.from_list([{"messages": r["messages"]} for r in rows])
    trainer = SFTTrainer(model=model_obj, args=config, train_dataset=dataset, processing_class=tokenizer)
    quiet_printer(trainer)  # as osim does: no log dicts on stdout
    trainer.train()
    history = trainer.state.log_history
    tokens = max(h.get("num_tokens", 0) for h in history)
    runtime = next(h["train_runtime"] for h in reversed(history) if "train_runtime" in h)
    return {"tokens_per_s": tokens / runtime, "tokens": int(tokens), "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="model directory (default: the tiny local model)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()

    from learners.common import has_gpu, model_path

    model = model_path(args.model)
    rows = conversations(args.rows)
    osim_runs, trl_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "chats.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        for i in range(args.repeats):  # alternate which side goes first: load on a shared machine drifts
            order = ("trl", "osim") if i % 2 == 0 else ("osim", "trl")
            for side in order:
                if side == "trl":
                    trl_runs.append(run_trl(rows, model, args, Path(tmp) / f"trl{i}"))
                else:
                    osim_runs.append(run_osim(data, model, args, Path(tmp) / f"osim{i}"))
    best_osim = max(r["tokens_per_s"] for r in osim_runs)
    best_trl = max(r["tokens_per_s"] for r in trl_runs)
    print(
        json.dumps(
            {
                "model": model,
                "device": "cuda" if has_gpu() else "cpu",
                "steps": args.steps,
                "batch": args.batch,
                "osim_tokens_per_s": round(best_osim, 1),
                "trl_tokens_per_s": round(best_trl, 1),
                "ratio": round(best_osim / best_trl, 3),
                "target_ratio": 0.95,
                "osim_runs": osim_runs,
                "trl_runs": trl_runs,
            }
        )
    )


if __name__ == "__main__":
    main()
