"""Replay viewer: time to first byte of its pages on a store of 100,000 episodes (target < 200 ms each).

The store is built from real episodes: Sotopia (8 turns, scripted lines) and Hi-ToM (one answer)
stepped through their envs, with a judgment per policy agent (some with a detector flag) and a model
call per action, written with ``ReplayStore.write`` in batches of 5,000 episodes (Arrow inserts, one
transaction each). ``osim replay serve`` then serves it in a subprocess and each page is requested
``--repeat`` times over HTTP; the time to first byte is from sending the request to reading the
first byte of the response. Prints one JSON object.

    python benchmarks/viewer.py [--episodes 100000] [--repeat 7] [--store PATH] [--keep]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import osim_env
from judges.judgment import Judgment
from replays import CallRecord, EpisodeResult, ReplayStore

TARGET_MS = 200.0
SOTOPIA_LINES = [
    {"action_type": "speak", "argument": "Good morning! Is the record player still for sale?"},
    {"action_type": "non-verbal communication", "argument": "turns the tone arm over carefully"},
    {"action_type": "speak", "argument": "I could do 120 euros, it has a scratch on the lid."},
    {"action_type": "speak", "argument": "Meet me at 130 and it is yours, with the spare needle."},
]
FLAG = {"detector": "judge_address", "flagged": True, "severity": "medium", "evidence": ["dear judge"]}


@dataclass
class Config:
    episodes: int = 100_000
    repeat: int = 7
    batch: int = 5_000
    store: str | None = None
    keep: bool = False
    reuse: bool = False  # measure the store already at --store (built by an earlier --keep run)


def _judgment(agent: str, seed: int) -> Judgment:
    """A deterministic stand-in score per episode (every 50th flagged, every 97th a judge error)."""
    judge = {"kind": "rule", "name": "bench"}
    if seed % 97 == 0:
        return Judgment.failed(agent, "judge call timed out after 3 attempts", judge)
    flags = {"judge_address": FLAG} if seed % 50 == 0 else {}
    return Judgment(
        agent=agent, score=(seed * 7919 % 1000) / 1000, dims={"goal": seed % 10}, flags=flags, judge=judge
    )


def _results(env_id: str, seeds: range, **options) -> list[EpisodeResult]:
    env = osim_env.make_raw(env_id, judge=False, **options)
    out = []
    for seed in seeds:
        env.reset(seed=seed)
        turn = 0
        while env.status == "running":
            if env_id == "soul/hitom-v0":
                action = f"<answer>{'ABCD'[seed % 4]}</answer>"
            else:
                action = json.dumps(SOTOPIA_LINES[(seed + turn) % len(SOTOPIA_LINES)])
            env.step(action)
            turn += 1
        record = env.episode_record()
        judgments = {a: _judgment(a, seed) for a in record.policy_agents}
        status = "judge_error" if any(j.error for j in judgments.values()) else "ok"
        spec = {"backend": "openai", "model": "bench-model"}
        calls = [
            CallRecord(
                "act", spec, role=e.source, episode_id=record.episode_id, latency_s=0.4, prompt_tokens=900
            )
            for e in record.events
            if "raw" in e.payload
        ]
        out.append(EpisodeResult(record, status=status, judgments=judgments, calls=calls, judge_s=0.1))
    return out


def build_store(path: Path, episodes: int, batch: int) -> tuple[str, dict[str, float]]:
    """A run of ``episodes`` episodes, half Sotopia and half Hi-ToM; (run id, build timings)."""
    t0 = time.perf_counter()
    simulate = write = 0.0
    with ReplayStore(path) as store:
        run_id = store.start_run(
            {"benchmark": "viewer", "envs": [["soul/sotopia-v0", {"max_turns": 8}], ["soul/hitom-v0", {}]]},
            policies={"policy": {"backend": "openai", "model": "bench-model"}},
            judges={"judge": {"kind": "rule", "name": "bench"}},
        )
        half = episodes // 2
        for env_id, total, options in (
            ("soul/sotopia-v0", half, {"max_turns": 8}),
            ("soul/hitom-v0", episodes - half, {}),
        ):
            for start in range(0, total, batch):
                t = time.perf_counter()
                results = _results(env_id, range(start, min(start + batch, total)), **options)
                simulate += time.perf_counter() - t
                t = time.perf_counter()
                store.write(run_id, results)
                write += time.perf_counter() - t
        counts = store.counts()
    timings = {"build_s": time.perf_counter() - t0, "simulate_s": simulate, "write_s": write}
    return run_id, {**timings, **{f"{k}_rows": float(v) for k, v in counts.items()}}


def ttfb_ms(host: str, port: int, path: str) -> float:
    """Milliseconds from sending a GET to reading the first byte of the response (then read it all)."""
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        start = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read(1)
        elapsed = (time.perf_counter() - start) * 1000
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        return elapsed
    finally:
        connection.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pages(store_path: Path, run_id: str) -> dict[str, str]:
    with ReplayStore(store_path, read_only=True) as store:
        sotopia, hitom = (
            store.sql(
                "SELECT episode_id FROM records.episodes WHERE run_id = ? AND env_id = ? "
                "ORDER BY seed DESC LIMIT 1",
                [run_id, env_id],
            ).fetchone()[0]
            for env_id in ("soul/sotopia-v0", "soul/hitom-v0")
        )
    episode = f"/runs/{run_id}/episodes/{sotopia}"
    return {
        "runs": "/",
        "episodes_list": f"/runs/{run_id}",
        "episodes_list_sorted_by_score_page_1000": f"/runs/{run_id}?sort=score&desc=1&page=1000",
        "episodes_list_filtered": f"/runs/{run_id}?env=soul/sotopia-v0&status=ok&min_score=0.2&max_score=0.6",
        "episodes_list_flagged": f"/runs/{run_id}?flag=judge_address",
        "episodes_list_text_search": f"/runs/{run_id}?q=spare+needle",
        "episode": episode,
        "episode_hitom": f"/runs/{run_id}/episodes/{hitom}",
        "episode_view_as": f"{episode}?as=agent2",
        "compare": f"/compare?run_a={run_id}&a={sotopia}&run_b={run_id}&b={sotopia}",
    }


def measure(store_path: Path, run_id: str, repeat: int) -> dict[str, dict[str, float]]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "osim",
        "replay",
        "serve",
        "--store",
        str(store_path),
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/static/viewer.css", timeout=5).read()
                break
            except OSError as exc:
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read() if server.stderr else ""
                    raise RuntimeError(f"the viewer did not start: {err}") from exc
                time.sleep(0.2)
        out = {}
        for name, path in _pages(store_path, run_id).items():
            first = ttfb_ms("127.0.0.1", port, path)  # cold: DuckDB's caches and the replay cache empty
            times = [ttfb_ms("127.0.0.1", port, path) for _ in range(repeat)]
            out[name] = {
                "first_ms": round(first, 1),
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
            }
        return out
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main(config: Config) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="osim-viewer-bench-")) if config.store is None else None
    path = Path(config.store) if config.store else workdir / "viewer.duckdb"  # type: ignore[operator]
    if config.reuse and path.exists():
        with ReplayStore(path, read_only=True) as store:
            run_id = store.sql(
                "SELECT run_id FROM records.runs WHERE config->>'benchmark' = 'viewer'"
            ).fetchone()[0]
            build = {"episodes_rows": float(store.counts()["episodes"])}
    else:
        run_id, build = build_store(path, config.episodes, config.batch)
    pages = measure(path, run_id, config.repeat)
    result = {
        "benchmark": "viewer",
        "episodes": config.episodes,
        "store_mb": round(path.stat().st_size / 2**20, 1),
        **{k: round(v, 2) for k, v in build.items()},
        "target_ms": TARGET_MS,
        "pages": pages,
        "all_under_target": all(p["median_ms"] < TARGET_MS for p in pages.values()),
    }
    if not config.keep and workdir is not None:
        path.unlink()
        path.with_suffix(".duckdb.wal").unlink(missing_ok=True)
        workdir.rmdir()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=Config.episodes)
    parser.add_argument("--repeat", type=int, default=Config.repeat)
    parser.add_argument("--batch", type=int, default=Config.batch)
    parser.add_argument("--store", help="build the store here (default: a temporary file, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store")
    parser.add_argument("--reuse", action="store_true", help="measure the store already at --store")
    print(json.dumps(main(Config(**vars(parser.parse_args()))), indent=2))
