"""The events table stores payload keys in columns (``replays.schema.PAYLOAD_COLUMNS``) plus the key order
and a JSON of the rest: every payload must come back exactly (values, types, key order), from Python
(``ReplayStore.episode``) and from SQL (the ``events`` view's ``payload``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osim_env.episode import EpisodeRecord
from osim_env.events import EventLog
from replays import EpisodeResult, ReplayStore
from replays.tables import events_table

HUGE = "Long message. " * 80_000  # about 1.1 MB

PAYLOADS: list[dict[str, Any]] = [
    {"action_type": "speak", "text": "hi", "raw": '{"argument": "hi"}', "thinking": ""},
    {},
    {"text": ""},  # an empty string is not a missing key
    {"text": None, "raw": None},  # None is not a missing key either
    {"raw": "<answer>B</answer>", "text": "B", "thinking": "I think so"},  # another key order
    {"reason": "bad json", "raw": "{not json", "thinking": ""},  # reason first, as invalid actions have it
    {"reason": "max_turns (20) reached", "truncated": True},
    {"reason": "policy error", "failed": True},
    {"text": 5, "raw": ["a", 1], "thinking": {"nested": [1.5, None]}, "reason": False},  # non-strings
    {"text": 'ünïcödé ✓ 😀 \u2028 \x1f \x00 quote" backslash\\ newline\n', "action_type": "speak"},
    {"text": HUGE, "raw": HUGE + "!"},
    {"next_speaker": "agent2", "text": "narration", "score": 0.1, "big": 2**62, "none": None},
    {"$.odd key": 1, "*": "star", "[0]": "bracket", 'quo"te': "q", "text": "keys that look like paths"},
    {"format_lenient": True, "action_type": "speak", "text": "hi", "raw": "hi", "thinking": ""},
    {"action_type": "none", "text": "", "raw": "", "thinking": "<think>x</think>"},
]


def _record(episode: str, payloads: list[dict[str, Any]]) -> EpisodeRecord:
    log = EventLog()
    for i, payload in enumerate(payloads):
        log.append("message", "agent1", payload, turn=i, visibility=None if i % 3 else ("agent1",))
    log.append("end", "env", {"reason": "done", "truncated": False}, turn=len(payloads))
    return EpisodeRecord(
        episode_id=episode,
        env_id="test/payload-v0",
        scenario_id="s",
        seed=0,
        scenario={},
        agents=("agent1",),
        policy_agents=("agent1",),
        events=tuple(log),
        status="ok",
        termination="done",
    )


def _assert_same(stored: dict[str, Any], written: dict[str, Any]) -> None:
    assert stored == written
    assert list(stored) == list(written)  # key order too
    for key, value in written.items():
        assert type(stored[key]) is type(value), key


@pytest.fixture()
def store(tmp_path: Path) -> ReplayStore:
    with ReplayStore(tmp_path / "payload.duckdb") as s:
        yield s


def test_payloads_round_trip_exactly(store: ReplayStore) -> None:
    run = store.start_run({"test": "payload"})
    records = [_record("ep-edge", PAYLOADS), _record("ep-plain", PAYLOADS[:1] * 7)]
    assert store.write(run, [EpisodeResult(r) for r in records]) == 2
    for record in records:
        stored = store.episode(record.episode_id, run)
        assert len(stored.events) == len(record.events)
        for got, want in zip(stored.events, record.events):
            _assert_same(got.payload, want.payload)
        assert stored.events == record.events


def test_events_view_payload_json_matches(store: ReplayStore) -> None:
    run = store.start_run({"test": "view"})
    record = _record("ep-view", PAYLOADS)
    store.write(run, [EpisodeResult(record)])
    rows = store.sql(
        "SELECT idx, payload, text FROM events WHERE episode_id = 'ep-view' ORDER BY idx"
    ).fetchall()
    assert len(rows) == len(record.events)
    for (idx, payload, text), event in zip(rows, record.events):
        want = event.payload
        got = json.loads(payload)
        assert got == want and list(got) == list(want), idx
        value = want.get("text")
        assert text == (None if value is None else value if isinstance(value, str) else json.dumps(value))
    (action_type,) = store.sql(
        "SELECT action_type FROM messages WHERE episode_id = 'ep-view' AND idx = 0"
    ).fetchone()
    assert action_type == "speak"


def test_text_is_stored_once(store: ReplayStore) -> None:
    """The raw events table has no payload JSON holding the text again: extras are NULL for events
    whose keys all have their own column."""
    run = store.start_run({"test": "once"})
    store.write(run, [EpisodeResult(_record("ep-once", PAYLOADS[:1] * 5))])
    rows = store.sql(
        "SELECT text, payload_extra FROM records.events WHERE kind = 'message' AND episode_id = 'ep-once'"
    ).fetchall()
    assert rows == [("hi", None)] * 5


@pytest.mark.parametrize("share", [1, 3, 10, 40])
def test_sparse_and_dense_keys_in_one_batch(share: int) -> None:
    """Keys present in few events (gathered and scattered) and in most (read with ``get``) give the same
    columns as a per-event reference."""
    payloads: list[dict[str, Any]] = []
    for i in range(200):
        if i % share == 0:
            payloads.append({"reason": f"r{i}", "text": f"t{i}", "extra_key": i})
        else:
            payloads.append({"text": f"t{i}", "raw": f"raw{i}"})
    record = _record("ep-sparse", payloads)
    table = events_table([EpisodeResult(record)])
    for name in ("text", "raw", "reason"):
        column = table.column(name).to_pylist()
        assert column == [e.payload.get(name) for e in record.events], name
    extras = table.column("payload_extra").to_pylist()
    assert [json.loads(x) if x else None for x in extras[:-1]] == [
        {"extra_key": i} if i % share == 0 else None for i in range(200)
    ]
    keys = table.column("payload_keys").to_pylist()
    assert [json.loads(k) for k in keys] == [list(e.payload) for e in record.events]


def test_batch_larger_than_a_row_group_round_trips_in_order(store: ReplayStore) -> None:
    """A batch of more events than a row group goes to DuckDB as several record batches (inserted on
    several threads): every event is stored once and each episode reads back in its own order."""
    run = store.start_run({"test": "many"})
    records = [
        _record(f"ep-{i:03d}", [{"text": f"episode {i} turn {t}", "raw": f"r{i}.{t}"} for t in range(40)])
        for i in range(250)
    ]
    n_events = sum(len(r.events) for r in records)
    assert n_events > 2 * store.row_group_size
    assert store.write(run, [EpisodeResult(r) for r in records]) == len(records)
    assert store.counts()["events"] == n_events
    (distinct,) = store.sql("SELECT count(DISTINCT (episode_id, idx)) FROM records.events").fetchone()
    assert distinct == n_events
    for record in (records[0], records[123], records[-1]):
        assert store.episode(record.episode_id, run).events == record.events
