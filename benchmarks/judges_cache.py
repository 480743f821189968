"""Judge cache throughput: buffered Arrow inserts into DuckDB and batched lookups (hits and misses).

A sweep re-judging stored episodes looks up thousands of keys at once; this measures that path on a
real DuckDB file in a temporary directory. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from judges.cache import CacheKey, JudgeCache


def run(n: int) -> dict[str, float | int]:
    spec = {"kind": "bench", "version": "1", "model": {"backend": "none"}}
    keys = [CacheKey.of(spec, {"prompt": i}, f"transcript {i}") for i in range(n)]
    missing = [CacheKey.of(spec, {"prompt": -i - 1}, "absent") for i in range(n)]
    output = json.dumps({"reasoning": "x" * 200, "score": 7})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "judge_cache.duckdb"
        cache = JudgeCache(path, flush_every=n + 1)
        start = time.perf_counter()
        cache.put_many((k, output, spec) for k in keys)
        written = cache.flush()
        insert_s = time.perf_counter() - start
        cache.close()
        cache = JudgeCache(path)
        start = time.perf_counter()
        found = cache.get_many(keys)
        hit_s = time.perf_counter() - start
        start = time.perf_counter()
        none = cache.get_many(missing)
        miss_s = time.perf_counter() - start
        cache.close()
    assert written == n and len(found) == n and not none
    return {
        "entries": n,
        "insert_rows_per_s": round(n / insert_s),
        "hit_lookups_per_s": round(n / hit_s),
        "miss_lookups_per_s": round(n / miss_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps({"benchmark": "judges_cache", **run(args.entries)}))


if __name__ == "__main__":
    main()
