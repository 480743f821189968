"""Does ``act_batch`` really batch? Tokens/s on 64 chat prompts with the tiny model.

For each local backend (transformers, vLLM) three ways of producing the same 64 completions are
timed: the policy's ``act_batch`` (one call for all prompts), 64 sequential ``act`` calls, and the
backend's own raw batched call with the same prompts and settings (``model.generate`` on the padded
batch; ``LLM.generate`` on the rendered prompts). Every completion is forced to exactly
``MAX_NEW_TOKENS`` tokens (``min_new_tokens`` = max), so token counts are equal across the three.

The raw transformers call runs where ``act_batch`` runs ``generate``: on a worker thread of a fresh
event loop (a ``LocalPolicy`` must leave the event loop free). On CPU the thread matters: torch's
kernels run on OpenMP, every thread that has run a parallel region keeps its own OpenMP team for as
long as it lives, and libgomp stops spin-waiting at its barriers once it manages more threads than
there are cores. A raw call on the main thread left the main thread's team behind, which cut the
throughput of every later ``act_batch`` by 23-30% on 2 cores and the raw call's by nothing: the
policy was charged for the thread the benchmark ran its baseline on.

Targets: ``act_batch`` >= 0.85x the raw batched call and >= 10x sequential calls.

    python benchmarks/batching.py            # prints one JSON object
    python benchmarks/batching.py --no-vllm  # transformers only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_PROMPTS = 64
MAX_NEW_TOKENS = 32
ROUNDS = 5

TOPICS = ["the rent", "a record player", "the last slice of cake", "a borrowed bike", "the band's gig"]


def chat_prompts(n: int = N_PROMPTS) -> list[dict[str, Any]]:
    """``n`` different chat observations of varied length (system, a few turns, a user turn)."""
    observations = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        messages = [{"role": "system", "content": f"You are person {i}. Stay in character; be brief."}]
        for turn in range(i % 4):
            messages.append({"role": "user", "content": f"What about {topic}? (turn {turn})"})
            messages.append({"role": "assistant", "content": f"I think {topic} can wait until Saturday."})
        messages.append({"role": "user", "content": f"Tell me honestly what you want regarding {topic}."})
        observations.append({"messages": messages})
    return observations


def best_seconds(variants: dict[str, Callable[[], Any]], rounds: int = ROUNDS) -> dict[str, float]:
    """Fastest wall time of each variant over ``rounds`` interleaved runs, after one warm-up each.

    Interleaving spreads drifting background load over all variants, and the minimum is the run
    least disturbed by other processes (the CPU machines this runs on are shared).
    """
    for fn in variants.values():
        fn()
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def summarize(seconds: dict[str, float], n_tokens: int) -> dict[str, float]:
    batch_s, raw_s, sequential_s = seconds["act_batch"], seconds["raw"], seconds["sequential"]
    tps = n_tokens / batch_s
    return {
        "tokens_per_s": round(tps, 1),
        "ratio_vs_raw": round(raw_s / batch_s, 3),
        "ratio_vs_sequential": round(sequential_s / batch_s, 2),
        "raw_tokens_per_s": round(n_tokens / raw_s, 1),
        "sequential_tokens_per_s": round(n_tokens / sequential_s, 1),
    }


def bench_hf(model_dir: Path, observations: list[dict[str, Any]]) -> dict[str, float]:
    import torch

    from policies.hf import HFPolicy

    policy = HFPolicy(model_dir, max_new_tokens=MAX_NEW_TOKENS, min_new_tokens=MAX_NEW_TOKENS)
    n_tokens = len(observations) * MAX_NEW_TOKENS
    from policies.base import ChatRequest

    prompts = policy.render_prompts([ChatRequest(messages=o["messages"]) for o in observations])

    def raw() -> None:
        asyncio.run(asyncio.to_thread(raw_generate))  # the thread act_batch's generate runs on

    def raw_generate() -> None:
        inputs = policy.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = policy.model.generate(
                **inputs,
                max_new_tokens=MAX_NEW_TOKENS,
                min_new_tokens=MAX_NEW_TOKENS,
                do_sample=False,
                pad_token_id=policy.tokenizer.pad_token_id,
                eos_token_id=policy.eos_ids,
            )
        policy.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    def batched() -> None:
        _forget_prefixes(policy)
        asyncio.run(policy.act_batch(observations))

    def sequential() -> None:
        _forget_prefixes(policy)
        for o in observations:
            policy.act(o)

    counts = [c.completion_tokens for c in asyncio.run(policy.complete_batch(_requests(observations)))]
    assert counts == [MAX_NEW_TOKENS] * len(observations), counts
    return summarize(best_seconds({"act_batch": batched, "raw": raw, "sequential": sequential}), n_tokens)


def _forget_prefixes(policy: Any) -> None:
    """Every timed call starts cold: the same prompts repeat across rounds, and KV the policy kept
    from an earlier round would spare it the prefill that the raw call pays."""
    if policy.prefix_cache is not None:
        policy.prefix_cache.clear()


def bench_vllm(model_dir: Path, observations: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        from vllm import SamplingParams

        from policies.vllm_engine import VLLMPolicy
    except ImportError as exc:
        return {"skipped": f"vLLM is not installed: {exc}"}
    policy = VLLMPolicy(
        model_dir, dtype="float32", max_new_tokens=MAX_NEW_TOKENS, min_new_tokens=MAX_NEW_TOKENS
    )
    try:
        n_tokens = len(observations) * MAX_NEW_TOKENS
        prompts = [
            policy.tokenizer.apply_chat_template(o["messages"], tokenize=False, add_generation_prompt=True)
            for o in observations
        ]
        params = SamplingParams(max_tokens=MAX_NEW_TOKENS, min_tokens=MAX_NEW_TOKENS, temperature=0.0)

        def raw() -> None:
            policy.llm.generate(prompts, params, use_tqdm=False)

        def batched() -> None:
            asyncio.run(policy.act_batch(observations))

        def sequential() -> None:
            for o in observations:
                policy.act(o)

        counts = [c.completion_tokens for c in asyncio.run(policy.complete_batch(_requests(observations)))]
        assert counts == [MAX_NEW_TOKENS] * len(observations), counts
        return summarize(best_seconds({"act_batch": batched, "raw": raw, "sequential": sequential}), n_tokens)
    finally:
        policy.close()


def _requests(observations: list[dict[str, Any]]) -> list[Any]:
    from policies.base import ChatRequest

    return [ChatRequest(messages=o["messages"]) for o in observations]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-vllm", action="store_true", help="benchmark transformers only")
    args = parser.parse_args(argv)

    from policies.tiny import build_tiny_model

    observations = chat_prompts()
    with tempfile.TemporaryDirectory(prefix="osim-bench-") as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", arch="qwen3", seed=0)
        result: dict[str, Any] = {"hf": bench_hf(model_dir, observations)}
        result["vllm"] = {"skipped": "--no-vllm"} if args.no_vllm else bench_vllm(model_dir, observations)
    result["config"] = {"n_prompts": N_PROMPTS, "max_new_tokens": MAX_NEW_TOKENS, "rounds": ROUNDS}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
