"""Replay-store ingest speed and a per-env score aggregation over 1,000,000 stored events.

Builds finished episodes in memory (Sotopia-shaped: 20 actions, each a message event with the raw
action, thinking and a public or private visibility, plus an end event; and Hi-ToM-shaped ones),
writes them with ``ReplayStore.write`` in batches (one transaction each, through Arrow) and times
the whole path from ``EpisodeResult`` objects to committed rows. Then times a per-env aggregation
over the stored events joined with episodes and judgments.

Also times the two halves of a write on their own (Arrow building in Python; DuckDB inserting the
prebuilt tables), so a figure says where the time goes on the machine it ran on.

Prints one JSON object: {"events_per_s", "aggregation_s", ...}. Targets: >= 500k events/s, < 1 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path

from judges.judgment import Judgment
from osim_env.episode import EpisodeRecord
from osim_env.events import EventLog
from osim_env.seeding import episode_id
from replays import EpisodeResult, ReplayStore
from replays.store import EVENTS_INSERT
from replays.tables import episodes_table, events_table, run_judgments_table, utcnow

TURNS = 20


def sotopia_episode(i: int) -> EpisodeResult:
    log = EventLog()
    for turn in range(TURNS):
        agent = "agent1" if turn % 2 == 0 else "agent2"
        text = f"Turn {turn} of episode {i}: I could go as low as {100 + turn} euros, if you pay cash today."
        raw = json.dumps({"action_type": "speak", "argument": text})
        payload = {"action_type": "speak", "text": text, "raw": raw, "thinking": ""}
        log.append("message", agent, payload, turn=turn, visibility=None if turn % 5 else (agent,))
    log.append("end", "env", {"reason": "max_turns (20) reached", "truncated": True}, turn=TURNS)
    return _result("soul/sotopia-v0", i, log, ("agent1", "agent2"), ("agent1",), score=(i % 11) / 10)


def hitom_episode(i: int) -> EpisodeResult:
    log = EventLog()
    log.append("message", "answerer", {"text": "B", "raw": "<answer>B</answer>", "thinking": ""}, turn=0)
    log.append("end", "env", {"reason": "answered", "truncated": False}, turn=1)
    return _result("soul/hitom-v0", i, log, ("answerer",), ("answerer",), score=float(i % 2))


def _result(env_id: str, i: int, log: EventLog, agents, policy_agents, score: float) -> EpisodeResult:
    scenario_id = f"{env_id}-row-{i % 100}"
    record = EpisodeRecord(
        episode_id=episode_id(env_id, scenario_id, i),
        env_id=env_id,
        scenario_id=scenario_id,
        seed=i,
        scenario={"index": scenario_id},
        options={"max_turns": TURNS},
        agents=agents,
        policy_agents=policy_agents,
        events=tuple(log),
        status="ok",
        termination=log[-1].payload["reason"],
        truncated=bool(log[-1].payload["truncated"]),
    )
    judgments = {
        a: Judgment(agent=a, score=score, dims={"goal": score * 10}, judge={"kind": "bench"})
        for a in policy_agents
    }
    return EpisodeResult(record, status="ok", judgments=judgments)


def build(n_events: int) -> list[EpisodeResult]:
    """Episodes totalling ``n_events`` events: 90% of events from Sotopia-shaped episodes."""
    results: list[EpisodeResult] = []
    total = i = 0
    while total < n_events:
        r = hitom_episode(i) if i % 10 == 9 else sotopia_episode(i)
        if total + len(r.record.events) > n_events:
            r = hitom_episode(i)
        results.append(r)
        total += len(r.record.events)
        i += 1
    return results


AGGREGATION = """
    SELECT e.env_id, count(*) AS events, count(DISTINCT v.episode_id) AS episodes,
           avg(j.score) AS mean_score, avg(length(v.text)) AS mean_text_length,
           count(*) FILTER (WHERE v.visibility IS NOT NULL) AS private_events,
           count(*) FILTER (WHERE v.kind = 'message') AS messages
    FROM records.events v
    JOIN records.episodes e USING (run_id, episode_id)
    JOIN records.judgments j USING (run_id, episode_id)
    WHERE j.origin = 'run'
    GROUP BY e.env_id ORDER BY e.env_id
"""


def split(results: list[EpisodeResult], batch: int, path: Path) -> dict[str, float]:
    """The two halves of a write, each on its own: building the Arrow tables (Python) and inserting
    those prebuilt tables (DuckDB, the same statements and transactions as ``ReplayStore.write``).
    The second is the store's floor on this machine: no Python conversion could make ingest faster."""
    store = ReplayStore(path)
    run_id = store.start_run({"benchmark": "store_ingest_split"})
    now = utcnow()
    cpu_start = time.process_time()
    tables = [
        (episodes_table(run_id, b, now), events_table(b), run_judgments_table(b, run_id, now))
        for b in (results[i : i + batch] for i in range(0, len(results), batch))
    ]
    arrow_cpu_s = time.process_time() - cpu_start
    start, cpu_start = time.perf_counter(), time.process_time()
    for episodes, events, judgments in tables:
        with store.transaction():
            store._insert("episodes", episodes)
            store._insert("events", events, EVENTS_INSERT, [run_id])
            store._insert("judgments", judgments)
    store.close()
    insert_s, insert_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    n_events = sum(len(r.record.events) for r in results)
    return {
        "arrow_build_cpu_s": round(arrow_cpu_s, 3),
        "duckdb_insert_s": round(insert_s, 3),
        "duckdb_insert_cpu_s": round(insert_cpu_s, 3),
        "duckdb_only_events_per_s": round(n_events / insert_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1024, help="episodes per transaction")
    args = parser.parse_args()
    results = build(args.events)
    # The million input events are this script's own heap, not the store's: a runner holds only its
    # live episodes. Freeze them so Python's cyclic GC does not rescan them during the timed writes.
    gc.collect()
    gc.freeze()
    n_events = sum(len(r.record.events) for r in results)
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up (one-time library and allocator set-up), in a scratch store.
        with ReplayStore(Path(tmp) / "warmup.duckdb") as scratch:
            scratch.write(scratch.start_run({"benchmark": "warmup"}), results[: args.batch])
        path = Path(tmp) / "bench.duckdb"
        start, cpu_start = time.perf_counter(), time.process_time()
        store = ReplayStore(path)
        run_id = store.start_run({"benchmark": "store_ingest"})
        for i in range(0, len(results), args.batch):
            store.write(run_id, results[i : i + args.batch])
        store.close()  # the final checkpoint is part of the cost
        ingest_s = time.perf_counter() - start
        # CPU seconds of this process (all threads): on a shared machine, steadier than wall time.
        ingest_cpu_s = time.process_time() - cpu_start
        file_mb = path.stat().st_size / 1e6
        with ReplayStore(path, read_only=True) as store:
            start = time.perf_counter()
            rows = store.sql(AGGREGATION).fetchall()
            aggregation_s = time.perf_counter() - start
            stored = store.counts()["events"]
        halves = split(results, args.batch, Path(tmp) / "split.duckdb")
    gc.unfreeze()
    assert stored == n_events, (stored, n_events)
    assert sum(r[1] for r in rows) == n_events
    print(
        json.dumps(
            {
                "events_per_s": round(n_events / ingest_s),
                "aggregation_s": round(aggregation_s, 4),
                "events": n_events,
                "episodes": len(results),
                "ingest_s": round(ingest_s, 3),
                "ingest_cpu_s": round(ingest_cpu_s, 3),
                "store_mb": round(file_mb, 1),
                "episodes_per_transaction": args.batch,
                **halves,
                "cpu_count": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
