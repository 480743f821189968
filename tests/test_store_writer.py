"""``BatchWriter``: batches built in the caller's thread, committed on a background thread, in order,
with the guarantees of ``ReplayStore.write`` (no duplicates, one transaction per batch) and failures
raised to the caller instead of lost."""

from __future__ import annotations

from pathlib import Path

import pytest

import osim_env
from judges.judgment import Judgment
from replays import BatchWriter, CallRecord, EpisodeResult, ReplayStore
from replays.schema import SCHEMA

LINES = [
    '{"action_type": "speak", "argument": "Fifty, and I carry it to your car."}',
    '{"action_type": "non-verbal communication", "argument": "shrugs"}',
]


def sotopia_result(seed: int) -> EpisodeResult:
    env = osim_env.make_raw("soul/sotopia-v0", scenario=seed % 5, judge=False, max_turns=4)
    env.reset(seed=seed)
    for i, _ in enumerate(env.agent_iter()):
        _, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else LINES[i % 2])
    record = env.episode_record()
    judgment = Judgment(
        agent="agent1", score=(seed % 4) / 4, dims={"goal": seed % 10}, judge={"kind": "test"}
    )
    return EpisodeResult(record, judgments={"agent1": judgment})


def table_rows(store: ReplayStore, sql: str) -> list[tuple]:
    return store.sql(sql).fetchall()


def snapshot(store: ReplayStore, run_id: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
    episodes = table_rows(
        store,
        f"SELECT episode_id, env_id, seed, status, n_events FROM {SCHEMA}.episodes "
        f"WHERE run_id = '{run_id}' ORDER BY episode_id",
    )
    events = table_rows(
        store,
        f"SELECT * EXCLUDE (run_id) FROM {SCHEMA}.events WHERE run_id = '{run_id}' ORDER BY episode_id, idx",
    )
    judgments = table_rows(
        store,
        f"SELECT episode_id, agent, score, dims FROM {SCHEMA}.judgments WHERE run_id = '{run_id}' "
        "ORDER BY episode_id",
    )
    return episodes, events, judgments


@pytest.fixture()
def results() -> list[EpisodeResult]:
    return [sotopia_result(seed) for seed in range(12)]


def test_writer_stores_what_write_stores(tmp_path: Path, results: list[EpisodeResult]) -> None:
    with ReplayStore(tmp_path / "sync.duckdb") as store:
        run = store.start_run({"test": "writer"})
        for i in range(0, 12, 4):
            store.write(run, results[i : i + 4])
        expected = snapshot(store, run)
    with ReplayStore(tmp_path / "piped.duckdb") as store:
        run = store.start_run({"test": "writer"})
        with BatchWriter(store, run) as writer:
            for i in range(0, 12, 4):
                writer.submit(results[i : i + 4])
            assert sum(writer.flush()) == 12
        got = snapshot(store, run)
        assert got == expected
        assert len(got[0]) == 12 and len(got[1]) == sum(len(r.record.events) for r in results)
        record = store.episode(results[5].episode_id, run)
        assert record.events == results[5].record.events


def test_writer_never_duplicates(tmp_path: Path, results: list[EpisodeResult]) -> None:
    with ReplayStore(tmp_path / "dupes.duckdb") as store:
        run = store.start_run({"test": "dupes"})
        with BatchWriter(store, run) as writer:
            writer.submit(results[:6])
            writer.submit(results[3:9] + results[3:4])  # 3 stored already, one repeated in the batch
            counts = writer.flush()
        assert counts == [6, 3]
        ((episodes, distinct),) = table_rows(
            store, f"SELECT count(*), count(DISTINCT episode_id) FROM {SCHEMA}.episodes"
        )
        ((events, distinct_events),) = table_rows(
            store, f"SELECT count(*), count(DISTINCT (episode_id, idx)) FROM {SCHEMA}.events"
        )
        assert episodes == distinct == 9 and events == distinct_events


def test_calls_of_skipped_episodes_are_dropped_and_batch_calls_kept(
    tmp_path: Path, results: list[EpisodeResult]
) -> None:
    spec = {"kind": "test-policy"}
    first = EpisodeResult(
        results[0].record, calls=[CallRecord("act", spec, role="agent1", episode_id=results[0].episode_id)]
    )
    with ReplayStore(tmp_path / "calls.duckdb") as store:
        run = store.start_run({"test": "calls"})
        with BatchWriter(store, run) as writer:
            writer.submit([first])
            # The same episode again (skipped, with its call) plus one batch-level judge call.
            writer.submit([first], calls=[CallRecord("judge", spec)])
        rows = table_rows(store, f"SELECT purpose, episode_id FROM {SCHEMA}.model_calls ORDER BY purpose")
        assert rows == [("act", results[0].episode_id), ("judge", None)]


class FakeFailingCommit:
    """A fault a real store does not produce on demand: the ``n``-th commit raises."""

    def __init__(self, store: ReplayStore, n: int) -> None:
        self.store, self.n, self.calls = store, n, 0
        self.real = store.commit

    def __call__(self, batch, **kw):
        self.calls += 1
        if self.calls == self.n:
            raise OSError("disk full (injected)")
        return self.real(batch, **kw)


def test_a_failed_commit_is_raised_and_later_batches_are_not_written(
    tmp_path: Path, results: list[EpisodeResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    with ReplayStore(tmp_path / "fail.duckdb") as store:
        run = store.start_run({"test": "fail"})
        monkeypatch.setattr(store, "commit", FakeFailingCommit(store, 2))
        writer = BatchWriter(store, run)
        writer.submit(results[:3])
        writer.submit(results[3:6])  # fails in the background
        with pytest.raises(RuntimeError, match="disk full") as info:
            writer.flush()
        assert isinstance(info.value.__cause__, OSError)
        with pytest.raises(RuntimeError, match="disk full"):
            writer.submit(results[6:9])
        with pytest.raises(RuntimeError, match="store writer failed"):
            writer.close()
        stored = {r[0] for r in table_rows(store, f"SELECT episode_id FROM {SCHEMA}.episodes")}
        # The first batch is committed; the failed one and anything after it are not (order holds).
        assert stored == {r.episode_id for r in results[:3]}


def test_close_commits_what_is_queued_and_then_refuses(tmp_path: Path, results: list[EpisodeResult]) -> None:
    with ReplayStore(tmp_path / "close.duckdb") as store:
        run = store.start_run({"test": "close"})
        writer = BatchWriter(store, run, max_pending=1)
        for i in range(0, 12, 3):
            writer.submit(results[i : i + 3])
        assert writer.close() == [3, 3, 3, 3]  # every batch reported once, at the latest on close
        with pytest.raises(RuntimeError, match="closed"):
            writer.submit(results[:1])
        assert table_rows(store, f"SELECT count(*) FROM {SCHEMA}.episodes") == [(12,)]
