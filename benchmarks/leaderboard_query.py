"""Leaderboard SQL over a synthetic store of 10M events and 500k episodes (target: under 1 s).

The store is built column by column with numpy and pyarrow and inserted through Arrow (one
``INSERT ... BY NAME SELECT`` per table and chunk, no row-by-row writes): ``--policies`` policies times
the ten SOUL tasks, one run each, ``--episodes`` episodes in all with ``--events`` events. Episodes
carry their task's scenario fields (question types, subsets, UserLLM sources and turn flags), judgments
carry the dims the leaderboard reads (FanToM types, Sotopia dims and paper scale, MirrorBench lexical
values, UserLLM PRISM parts), 5% are judge errors, 2% failed, 5% hold an invalid action and 10% a
detector flag. Then ``osim.leaderboard.build`` (every query of the leaderboard) is timed, as are its
queries one by one.

Prints one JSON object: {"episodes", "events", "build_s", "leaderboard_s" (wall, median),
"leaderboard_cpu_s" (CPU time of all threads: on a shared machine the wall time depends on the others'
load, the CPU time much less), "leaderboard_with_profile_s", "queries_s": {...} (each with the
selection)}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from osim import leaderboard
from replays import ReplayStore
from replays import leaderboard_sql as sql
from replays.schema import SCHEMA

TASKS = {  # env id -> (policy agent, scenario rows as JSON, dims keys)
    "soul/fantom-v0": (
        "answerer",
        ['{"question_type": "tom:belief:inaccessible:multiple-choice"}'],
        ["type.mc"],
    ),
    "soul/hitom-v0": ("answerer", ['{"question_order": 1, "deception": true}', '{"question_order": 3}'], []),
    "soul/tomi-v0": ("answerer", ['{"qType": "reality"}', '{"qType": "first_order_tom"}'], []),
    "soul/coser-v0": ("character:A", ['{"split": "id"}', '{"split": "ood"}'], list(leaderboard.COSER_DIMS)),
    "soul/lifechoices-v0": ("character", ["{}"], []),
    "soul/sotopia-v0": ("agent1", ["{}"], list(leaderboard.SOTOPIA_DIMS)),
    "soul/mistakes-v0": ("student", ["{}"], []),
    "soul/mirrorbench-v0": (
        "user",
        ['{"subset": "oasst1", "turns": [{"role": "user", "content": "hi there, quick one"}]}'],
        ["gteval", "proxy.mattr", "human.mattr", "proxy.hdd", "human.hdd", "proxy.yules_k", "human.yules_k"],
    ),
    "soul/userllm-v0": (
        "user",
        [
            '{"source": "commonsense_qa"}',
            '{"source": "natural_questions"}',
            '{"source": "prism_first_turn"}',
            '{"source": "prism_sequential", "is_last_turn": true}',
        ],
        ["valid", "ended", "first_turn", "intent_overlap", "human_like", "termination_correct"],
    ),
    "soul/twinvoice-v0": ("persona", ['{"dimension": "social"}'], ["accuracy.social"]),
}
TEXTS = [
    f"message {i}: could we meet at {i % 24}h near the {w} please"
    for i, w in enumerate(["dock", "mill"] * 500)
]
CHUNK = 1_000_000


def _insert(store: ReplayStore, table: str, data: pa.Table) -> None:
    for start in range(0, data.num_rows, CHUNK):
        store.con.register("_bench_buf", data.slice(start, CHUNK))
        try:
            store.con.execute(f"INSERT INTO {SCHEMA}.{table} BY NAME SELECT * FROM _bench_buf")
        finally:
            store.con.unregister("_bench_buf")


def build(path: Path, episodes: int, events: int, policies: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    tasks = list(TASKS)
    runs = [(f"run-{p}-{t}", f"policy-{p}", task) for p in range(policies) for t, task in enumerate(tasks)]
    run_of = np.arange(episodes) * len(runs) // episodes  # a sweep writes one run after the other
    episode_ids = pa.array([f"ep{i:07d}" for i in range(episodes)])
    run_ids = pa.array([r[0] for r in runs]).take(pa.array(run_of))
    env_of = np.array([tasks.index(r[2]) for r in runs])[run_of]
    agent_pool = pa.array([TASKS[t][0] for t in tasks])
    status = np.where(
        rng.random(episodes) < 0.02, "failed", np.where(rng.random(episodes) < 0.05, "judge_error", "ok")
    )
    scenario_pools = [TASKS[t][1] for t in tasks]
    scenario = [scenario_pools[e][i % len(scenario_pools[e])] for i, e in enumerate(env_of)]
    with ReplayStore(path) as store:
        config = [json.dumps({"sweep": {"policy": r[1]}, "envs": [[r[2], {}]]}) for r in runs]
        _insert(store, "runs", pa.table({"run_id": [r[0] for r in runs], "config": config}))
        agents = agent_pool.take(pa.array(env_of))
        _insert(
            store,
            "episodes",
            pa.table(
                {
                    "run_id": run_ids,
                    "episode_id": episode_ids,
                    "env_id": pa.array(tasks).take(pa.array(env_of)),
                    "scenario_id": pa.array([f"row{i % 1000}" for i in range(episodes)]),
                    "seed": pa.array(np.arange(episodes)),
                    "scenario": pa.array(scenario),
                    "policy_agents": pa.ListArray.from_arrays(
                        pa.array(np.arange(episodes + 1, dtype=np.int32)), agents
                    ),
                    "status": pa.array(status),
                }
            ),
        )
        per = events // episodes
        owner = np.repeat(np.arange(episodes), per)
        idx = np.tile(np.arange(per, dtype=np.int32), episodes)
        kind = np.where(idx == per - 1, "end", "message")
        invalid = (rng.random(episodes) < 0.05)[owner] & (idx == 0)
        kind = np.where(invalid, "invalid_action", kind)
        source = np.where(idx % 2 == 0, agents.take(pa.array(owner)).to_numpy(zero_copy_only=False), "env")
        _insert(
            store,
            "events",
            pa.table(
                {
                    "run_id": run_ids.take(pa.array(owner)),
                    "episode_id": episode_ids.take(pa.array(owner)),
                    "idx": pa.array(idx),
                    "turn": pa.array(idx // 2),
                    "kind": pa.array(kind),
                    "source": pa.array(source),
                    "text": pa.array(TEXTS).take(pa.array(rng.integers(0, len(TEXTS), len(owner)))),
                    "payload_keys": pa.array(np.full(len(owner), '["text"]')),
                }
            ),
        )
        del owner, idx, kind, source
        keys, values, offsets = [], [], [0]
        for e in env_of:
            names = TASKS[tasks[e]][2]
            keys += names
            values += list(rng.random(len(names)).round(3))
            offsets.append(len(keys))
        dims = pa.MapArray.from_arrays(
            pa.array(offsets, pa.int32()), pa.array(keys), pa.array(values, pa.float64())
        )
        error = status == "judge_error"
        flag = '{"length": {"detector": "length", "flagged": true, "severity": "medium", "evidence": []}}'
        clean = '{"length": {"detector": "length", "flagged": false, "severity": "none", "evidence": []}}'
        _insert(
            store,
            "judgments",
            pa.table(
                {
                    "run_id": run_ids,
                    "episode_id": episode_ids,
                    "judge_id": pa.array(np.full(episodes, "judge")),
                    "origin": pa.array(np.full(episodes, "run")),
                    "agent": agents,
                    "score": pa.array(np.where(error, np.nan, rng.random(episodes)), from_pandas=True),
                    "dims": dims,
                    "flags": pa.array(np.where(rng.random(episodes) < 0.1, flag, clean)),
                    "error": pa.array(np.where(error, "judge failed", None)),
                }
            ),
        )
        store.con.execute("CHECKPOINT")


def timed(fn, repeats: int, clock=time.perf_counter) -> float:
    """Median over ``repeats`` of ``clock`` (wall time; ``time.process_time``: this process's CPU time over
    all threads, which other processes on a shared machine do not inflate)."""
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=500_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--policies", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store", help="build (or reuse) the store here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.store) if args.store else Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        if not path.exists():
            build(path, args.episodes, args.events, args.policies)
        build_s = time.perf_counter() - t0
        with ReplayStore(path, read_only=True) as store:
            con = store.con
            (n_events,) = con.execute(f"SELECT count(*) FROM {SCHEMA}.events").fetchone()
            (n_episodes,) = con.execute(f"SELECT count(*) FROM {SCHEMA}.episodes").fetchone()
            board = leaderboard.build(store)  # warm-up: the file's pages in the OS cache

            def each(fn):
                def run():
                    with sql.selected(con):
                        fn()

                return run

            queries = {
                "selection": each(lambda: None),
                "task_scores": each(lambda: sql.task_scores(con)),
                "breakdowns": each(lambda: sql.breakdowns(con, leaderboard.BREAKDOWNS)),
                "flag_rates": each(lambda: sql.flag_rates(con)),
                "lexical_z": each(
                    lambda: sql.lexical_z(
                        con, leaderboard.MIRRORBENCH, leaderboard.LEXICAL, subset_field="subset"
                    )
                ),
                "userllm_subsets": each(lambda: sql.userllm_subsets(con, leaderboard.USERLLM)),
                "text_profile": each(
                    lambda: sql.text_profile(
                        con, leaderboard.MIRRORBENCH, **leaderboard.PROFILES[leaderboard.MIRRORBENCH]
                    )
                ),
            }
            result = {
                "episodes": n_episodes,
                "events": n_events,
                "runs": len(board.tasks),
                "build_s": round(build_s, 2),
                "leaderboard_s": round(
                    timed(lambda: leaderboard.build(store, profile=False), args.repeats), 3
                ),
                "leaderboard_cpu_s": round(
                    timed(lambda: leaderboard.build(store, profile=False), args.repeats, time.process_time), 3
                ),
                "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
                "leaderboard_with_profile_s": round(timed(lambda: leaderboard.build(store), args.repeats), 3),
                "queries_s": {name: round(timed(fn, args.repeats), 3) for name, fn in queries.items()},
                "target_s": 1.0,
            }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
