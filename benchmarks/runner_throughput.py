"""Runner throughput: 64 concurrent Sotopia episodes vs the same episodes one after another.

Both characters are played by one ``HFPolicy`` on the locally built tiny model (greedy, so both runs
generate the same amount of text), judging is off (this measures rollouts and store writes; judges
are benchmarked with the judges). The concurrent run keeps 64 envs live and makes one batched
``generate`` per round; the sequential run is the same runner with ``concurrency=1``. Both write every
episode to a DuckDB store; ``store_share`` is the share of the concurrent run's wall time spent in
store writes.

Prints one JSON object: {"speedup_vs_sequential", "store_share", ...}. Targets: >= 10x, < 2%.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--max-turns", type=int, default=6, help="turns per episode (both roles)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="HFPolicy's default")
    args = parser.parse_args()

    from osim.runner import Runner, jobs_for
    from policies import HFPolicy, tiny_model_dir

    policy = HFPolicy(tiny_model_dir(), max_new_tokens=args.max_new_tokens)
    jobs = jobs_for("soul/sotopia-v0", args.episodes, seed=0, options={"max_turns": args.max_turns})
    roles = {"agent1": policy, "agent2": policy}
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        hit_rates: dict[str, float] = {}
        for name, concurrency in (("concurrent", args.episodes), ("sequential", 1)):
            # A warm-up sweep per mode, into its own store, pays one-time costs (torch's kernel and
            # allocator set-up for that mode's batch shapes) that would otherwise be charged to
            # whichever mode runs first. Then the timed sweep, into a fresh store.
            for attempt, attempt_jobs in (("warmup", jobs[: max(8, concurrency)]), ("timed", jobs)):
                # Every sweep starts with an empty prefix cache: the warm-up plays the same
                # conversations, and reusing their KV would let a timed sweep skip its own work.
                if policy.prefix_cache is not None:
                    policy.prefix_cache.clear()
                runner = Runner(
                    Path(tmp) / f"{name}-{attempt}.duckdb",
                    roles=roles,
                    judge=False,
                    concurrency=concurrency,
                    progress=False,
                )
                start = time.perf_counter()
                summary = runner.run(attempt_jobs)
                wall = time.perf_counter() - start
                assert summary.unjudged == len(attempt_jobs), summary
            hit_rates[name] = 0.0 if policy.prefix_cache is None else policy.prefix_cache.hit_rate
            results[name] = (wall, summary)
    concurrent_s, concurrent = results["concurrent"]
    sequential_s, _ = results["sequential"]
    print(
        json.dumps(
            {
                "speedup_vs_sequential": round(sequential_s / concurrent_s, 2),
                "store_share": round(concurrent.store_s / concurrent_s, 4),
                "concurrent_s": round(concurrent_s, 2),
                "sequential_s": round(sequential_s, 2),
                "store_s": round(concurrent.store_s, 4),
                "episodes": args.episodes,
                "turns_per_episode": args.max_turns,
                "max_new_tokens": args.max_new_tokens,
                "prefix_hit_rate": {name: round(rate, 3) for name, rate in hit_rates.items()},
                "cpu_count": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
