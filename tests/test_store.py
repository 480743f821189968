"""The DuckDB replay store: round trip, views, no duplicates, replay checks, rejudge and export."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import duckdb
import pytest
from testing_judges import ValidTurnShareJudge

import osim_env
from judges.judgment import Judgment
from osim.runner import EpisodeJob, Runner, jobs_for
from policies import ScriptedPolicy
from replays import EpisodeResult, ReplayStore, export, observation_digest, rejudge, replay_stored, to_dataset
from replays.schema import SCHEMA
from scenarios.hitom.judge import hitom_judge

SOTOPIA_LINES = [
    '{"action_type": "speak", "argument": "Hello there, how much is it?"}',
    '{"action_type": "non-verbal communication", "argument": "smiles"}',
    "I could go as low as 120 euros. <think>they seem keen</think>",
    '{"action_type": "speak", "argument": "Deal."}',
]


def sotopia_run(store: Path | ReplayStore, episodes: int = 3, **kw) -> Runner:
    runner = Runner(
        store,
        policy=ScriptedPolicy(SOTOPIA_LINES, name="sotopia-lines"),
        roles={},
        judge=ValidTurnShareJudge(),
        progress=False,
        **kw,
    )
    # Both characters are scripted: the partner too (no model in this test).
    runner.roles = {"agent1": runner.policy, "agent2": runner.policy}
    runner.run(jobs_for("soul/sotopia-v0", episodes, seed=10, options={"max_turns": 6}))
    return runner


def hitom_run(store: Path | ReplayStore, letters: list[str], scenario: int = 0) -> Runner:
    """One Hi-ToM episode per letter, all on the same scenario (same prompt), answered in order."""
    answers = ScriptedPolicy([f"<answer>{x}</answer>" for x in letters], name="letters")
    runner = Runner(store, policy=answers, judge=hitom_judge(), concurrency=1, progress=False)
    runner.run(jobs_for("soul/hitom-v0", len(letters), seed=0, scenarios=[scenario]))
    return runner


def test_round_trip_records_views_and_replay(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    runner = sotopia_run(path)
    with ReplayStore(path) as store:
        episodes = store.episodes(runner.run_id)
        assert len(episodes) == 3 and set(episodes["status"]) == {"ok"}
        for row in episodes.itertuples():
            record = store.episode(row.episode_id, runner.run_id)
            # The stored record is the env's record: rebuilding the same episode gives the same events.
            env = osim_env.make("soul/sotopia-v0", judge=False, max_turns=6)
            env.reset(seed=int(row.seed))
            assert env.unwrapped.episode_id == record.episode_id
            assert record.scenario == env.unwrapped.scenario.row.model_dump(mode="json")
            assert record.options["max_turns"] == 6
            assert row.n_events == len(record.events)
            report = replay_stored(store, row.episode_id, runner.run_id)
            assert report.ok, str(report)
            assert report.observations_checked == report.n_actions > 0
            assert row.score == pytest.approx(store.judgments(row.episode_id)[0].score)
        # Views: messages hold speech and actions with visibility; events hold everything.
        messages = store.messages(run_id=runner.run_id)
        assert {"speaker", "text", "visibility", "public", "action_type"} <= set(messages.columns)
        assert "smiles" in set(messages["text"])
        events = store.events(run_id=runner.run_id)
        assert len(events) == int(episodes["n_events"].sum())
        assert set(events["kind"]) >= {"message", "action", "end"}
        scores = store.scores(runner.run_id)
        assert len(scores) == 3 * 2  # ValidTurnShareJudge scores both agents
        assert set(scores["origin"]) == {"run"}
        dims = store.sql("SELECT DISTINCT dimension FROM dimension_scores").fetchall()
        assert dims == [("valid_turns",)]
        # Model calls: one per action, attributed to its episode and role.
        calls = store.model_calls(runner.run_id)
        assert len(calls) == int(episodes["n_turns"].sum())
        assert set(calls["episode_id"]) == set(episodes["episode_id"])
        assert set(calls["purpose"]) == {"act"}


def test_thinking_is_kept_in_payload_only(tmp_path: Path) -> None:
    runner = sotopia_run(tmp_path / "s.duckdb", episodes=1)
    with ReplayStore(tmp_path / "s.duckdb") as store:
        rows = store.sql(
            "SELECT text, payload->>'thinking' FROM events WHERE run_id = ? AND payload->>'thinking' <> ''",
            [runner.run_id],
        ).fetchall()
    assert rows and all("<think>" not in text and thinking == "they seem keen" for text, thinking in rows)


def test_writes_never_duplicate_and_replace_on_request(tmp_path: Path) -> None:
    env = osim_env.make("soul/hitom-v0", scenario=1, judge=False)
    env.reset(seed=5)
    observation = env.observe("answerer")
    digest = {len(env.unwrapped.log): observation_digest(observation)}
    env.step("<answer>C</answer>")
    record = env.unwrapped.episode_record()
    judgment = Judgment(agent="answerer", score=1.0, judge={"kind": "manual"})
    with ReplayStore(tmp_path / "w.duckdb") as store:
        run = store.start_run({"name": "manual"})
        assert store.start_run({"name": "manual"}) == run  # the same config is the same run
        result = EpisodeResult(record, status="ok", judgments={"answerer": judgment}, observations=digest)
        assert store.write(run, [result, result]) == 1
        assert store.write(run, [result]) == 0
        assert store.counts() == {"runs": 1, "episodes": 1, "events": 2, "judgments": 1, "model_calls": 0}
        failed = EpisodeResult(record, status="failed", reason="replaced on purpose")
        assert store.write(run, [failed], replace=True) == 1
        assert store.counts()["episodes"] == 1 and store.counts()["judgments"] == 0
        assert store.episodes(run)["reason"].tolist() == ["replaced on purpose"]


def test_transaction_rolls_back_a_failed_batch(tmp_path: Path) -> None:
    env = osim_env.make("soul/hitom-v0", scenario=0, judge=False)
    env.reset(seed=1)
    env.step("<answer>A</answer>")
    record = env.unwrapped.episode_record()
    with ReplayStore(tmp_path / "t.duckdb") as store:
        run = store.start_run({"name": "rollback"})
        bad = EpisodeResult(record, status="ok", judgments={"answerer": "not a judgment"})  # type: ignore[dict-item]
        with pytest.raises(AttributeError):
            store.write(run, [bad])
        assert store.counts()["episodes"] == 0 and store.counts()["events"] == 0


def test_replay_reports_first_differing_observation_and_event(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    runner = sotopia_run(path, episodes=1)
    with ReplayStore(path) as store:
        episode_id = store.episodes(runner.run_id)["episode_id"][0]
        record = store.episode(episode_id)
        digests = store.observation_digests(episode_id)
        second_action = sorted(digests)[1]
        # A tampered observation digest: the mismatch names that action's event.
        shas = [digests[i] for i in sorted(digests)]
        tampered = [*shas[:1], "0" * 64, *shas[2:]]
        store.con.execute(f"UPDATE {SCHEMA}.episodes SET observation_sha = ?", [tampered])
        report = replay_stored(store, episode_id)
        assert not report.ok and report.mismatch.what == "observation"
        assert report.mismatch.event_index == second_action
        assert report.mismatch.expected == "0" * 64
        # A tampered event (its text edited in the store): that event is the first difference.
        store.con.execute(f"UPDATE {SCHEMA}.episodes SET observation_sha = ?", [shas])
        assert replay_stored(store, episode_id).ok
        assert record.events[second_action].text
        store.con.execute(f"UPDATE {SCHEMA}.events SET text = 'edited' WHERE idx = ?", [second_action])
        report = replay_stored(store, episode_id)
        assert not report.ok and report.mismatch.what == "event"
        assert report.mismatch.event_index == second_action
        assert report.mismatch.expected["payload"]["text"] == "edited"
        assert "MISMATCH" in str(report)


def test_rejudge_adds_judgments_without_resimulating(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    runner = hitom_run(path, ["A", "B", "C", "D"])
    with ReplayStore(path) as store:
        events_before = store.counts()["events"]
        judge = ValidTurnShareJudge()
        summary = rejudge(store, runner.run_id, judge)
        assert summary.episodes == 4 and summary.errors == 0 and len(judge.seen) == 4
        again = rejudge(store, runner.run_id, ValidTurnShareJudge())
        assert again.judgments == summary.judgments
        scores = store.scores(runner.run_id)
        assert (scores["origin"] == "rejudge").sum() == 4  # replaced, not duplicated
        assert (scores["origin"] == "run").sum() == 4
        assert store.counts()["events"] == events_before
        # The episode score stays the run's own judge's.
        assert sorted(store.episodes(runner.run_id)["score"]) == [0.0, 0.0, 0.0, 1.0]


def test_exports_load_with_datasets_in_trl_formats(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    runner = hitom_run(path, ["A", "B", "C", "D"])
    with ReplayStore(path) as store:
        sft, n_sft = export(store, "sft", tmp_path / "sft.parquet", run_id=runner.run_id)
        pc, n_pc = export(store, "prompt_completion", tmp_path / "pc.jsonl", run_id=runner.run_id)
        pref, n_pref = export(store, "preference", tmp_path / "pref.parquet", run_id=runner.run_id)
        best, n_best = export(store, "sft", tmp_path / "best.parquet", run_id=runner.run_id, min_score=0.5)
        in_memory = to_dataset(store, "prompt_completion", run_id=runner.run_id, role="answerer")
    assert (n_sft, n_pc, n_pref, n_best) == (4, 4, 3, 1)
    sft_ds = datasets.load_dataset("parquet", data_files=str(sft), split="train")
    assert "messages" in sft_ds.column_names
    last = sft_ds[0]["messages"][-1]
    assert last["role"] == "assistant" and last["content"].startswith("<answer>")
    assert sft_ds[0]["messages"][0]["role"] in ("system", "user")
    pc_ds = datasets.load_dataset("json", data_files=str(pc), split="train")
    assert {"prompt", "completion"} <= set(pc_ds.column_names)
    assert pc_ds[0]["completion"][0]["role"] == "assistant"
    pref_ds = datasets.load_dataset("parquet", data_files=str(pref), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(pref_ds.column_names)
    assert all(r["chosen_score"] > r["rejected_score"] for r in pref_ds)
    best_ds = datasets.load_dataset("parquet", data_files=str(best), split="train")
    assert best_ds["score"] == [1.0]
    assert isinstance(in_memory, datasets.Dataset) and len(in_memory) == 4
    # The exported prompt is exactly what the policy saw.
    env = osim_env.make("soul/hitom-v0", scenario=0, judge=False)
    env.reset(seed=0)
    assert in_memory[0]["prompt"] == env.observe("answerer")["messages"]


def test_store_file_is_plain_duckdb(tmp_path: Path) -> None:
    path = tmp_path / "plain.duckdb"
    runner = hitom_run(path, ["B", "C"])
    con = duckdb.connect(str(path), read_only=True)
    try:
        (n,) = con.execute("SELECT count(*) FROM episodes WHERE run_id = ?", [runner.run_id]).fetchone()
        config = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])
    finally:
        con.close()
    assert n == 2
    assert config["envs"] == [["soul/hitom-v0", {}]]


def test_records_filter_and_ambiguous_ids(tmp_path: Path) -> None:
    path = tmp_path / "a.duckdb"
    with ReplayStore(path) as store:
        first = Runner(
            store, policy=ScriptedPolicy(["<answer>A</answer>"]), judge=hitom_judge(), progress=False
        )
        first.run([EpisodeJob("soul/hitom-v0", 3, scenario=0)])
        second = Runner(
            store, policy=ScriptedPolicy(["<answer>B</answer>"]), judge=hitom_judge(), progress=False
        )
        second.run([EpisodeJob("soul/hitom-v0", 3, scenario=0)])
        assert first.run_id != second.run_id
        episode_id = store.episodes(first.run_id)["episode_id"][0]
        assert episode_id == store.episodes(second.run_id)["episode_id"][0]
        with pytest.raises(LookupError, match="pass run_id"):
            store.episode(episode_id)
        assert store.episode(episode_id, second.run_id).events[0].payload["raw"] == "<answer>B</answer>"
        assert len(list(store.records(statuses=["ok"]))) == 2


def test_an_episode_that_ends_by_leaving_replays_exactly(tmp_path: Path) -> None:
    """A Sotopia "leave" is an agent's action (it carries the action string), so replay re-steps it;
    scheduled joins and leaves carry none and are not re-stepped."""
    leave = '{"action_type": "leave", "argument": ""}'
    policy = ScriptedPolicy([SOTOPIA_LINES[0], leave], name="then-leave")
    runner = Runner(tmp_path / "runs.duckdb", policy=policy, judge=False, progress=False)
    runner.roles = {"agent1": policy, "agent2": policy}
    runner.run(jobs_for("soul/sotopia-v0", 2, seed=3))
    with ReplayStore(tmp_path / "runs.duckdb") as store:
        for row in store.episodes(runner.run_id).itertuples():
            assert row.termination.endswith(" left")
            report = replay_stored(store, row.episode_id, runner.run_id)
            assert report.ok and report.n_actions >= 1, str(report)
