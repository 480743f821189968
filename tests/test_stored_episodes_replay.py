"""Episodes stored by an earlier osim replay exactly with today's code.

``data/stored_episodes_d2b11f5.jsonl`` holds 27 episodes (Sotopia and Hi-ToM; scripted actions with
thinking, fences, invalid JSON, unknown action types, leaving, and tiny-model gibberish) written to a
replay store by osim at commit d2b11f5, with the digest of every observation an agent acted on. Each
is re-stepped through its env: every observation and every event must come out byte for byte the
same. A change that alters what an env does with a given action string fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osim_env.episode import EpisodeRecord
from replays import replay_record

STORED = Path(__file__).parent / "data" / "stored_episodes_d2b11f5.jsonl"
ROWS = [json.loads(line) for line in STORED.read_text(encoding="utf-8").splitlines()]


def test_the_stored_set_covers_both_tasks_and_invalid_actions():
    records = [EpisodeRecord.model_validate(row["record"]) for row in ROWS]
    assert {r.env_id for r in records} == {"soul/sotopia-v0", "soul/hitom-v0"}
    kinds = {e.kind for r in records for e in r.events}
    assert {"message", "action", "leave", "invalid_action", "end"} <= kinds
    assert any(e.payload.get("thinking") for r in records for e in r.events)


@pytest.mark.parametrize("row", ROWS, ids=[row["record"]["episode_id"] for row in ROWS])
def test_stored_episode_replays_exactly(row):
    record = EpisodeRecord.model_validate(row["record"])
    digests = {int(index): digest for index, digest in row["digests"].items()}
    report = replay_record(record, digests)
    assert report.ok, str(report)
    assert report.observations_checked == report.n_actions == len(digests) > 0
