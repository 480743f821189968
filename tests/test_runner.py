"""The rollout runner: batching per policy, auxiliary roles, failure isolation, judging, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from testing_judges import ValidTurnShareJudge

from judges.judgment import Judgment
from judges.sync_judge import SyncJudge
from osim.runner import Runner, jobs_for
from osim_env.episode import EpisodeRecord
from policies import BatchPolicyError, ChatRequest, Completion, PolicyError, ScriptedPolicy
from replays import ReplayStore, replay_stored
from replays.schema import SCHEMA

LINES = [
    '{"action_type": "speak", "argument": "Good morning."}',
    '{"action_type": "speak", "argument": "What would you take for it?"}',
]
# Fixture row 1 of Sotopia; the fakes below fail on observations that mention it.
MARKER = "Noor"


class CountingPolicy(ScriptedPolicy):
    """A scripted policy that records the size of every batch it is asked for."""

    def __init__(self, actions: Sequence[str], name: str) -> None:
        super().__init__(actions, name=name)
        self.batches: list[int] = []

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        self.batches.append(len(requests))
        return await super()._complete_batch(requests)


def _mentions_marker(request: ChatRequest) -> bool:
    return any(MARKER in str(m.get("content", "")) for m in request.messages)


class FakeFailingPolicy(ScriptedPolicy):
    """Fake: a backend whose call fails after its retries for one scenario (the whole batch raises)."""

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        if any(_mentions_marker(r) for r in requests):
            raise PolicyError("HTTP 503 after 3 attempts")
        return await super()._complete_batch(requests)


class FakePartialBatchPolicy(ScriptedPolicy):
    """Fake: a backend that reports which requests of a batch failed (``BatchPolicyError``)."""

    def __init__(self, actions: Sequence[str]) -> None:
        super().__init__(actions, name="partial")
        self.requests = 0

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        self.requests += len(requests)
        done = await super()._complete_batch(requests)
        failures = {
            i: PolicyError("429 rate limited after 3 attempts")
            for i, r in enumerate(requests)
            if _mentions_marker(r)
        }
        if failures:
            completions = [None if i in failures else c for i, c in enumerate(done)]
            raise BatchPolicyError("some requests failed", failures=failures, completions=completions)
        return done


class FakeRaisingJudge(SyncJudge):
    """Fake: a judge whose call raises for one scenario."""

    spec = {"kind": "fake", "name": "raising"}

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        if MARKER in json.dumps(episode.scenario):
            raise TimeoutError("judge timed out")
        return {a: Judgment(agent=a, score=0.5, judge=self.spec) for a in episode.policy_agents}


def sotopia_jobs(n: int = 6, max_turns: int = 4):
    return jobs_for("soul/sotopia-v0", n, seed=0, scenarios=[0, 1, 2], options={"max_turns": max_turns})


def test_one_act_batch_per_policy_per_round(tmp_path: Path) -> None:
    first, second = CountingPolicy(LINES, "first"), CountingPolicy(LINES, "second")
    runner = Runner(
        tmp_path / "b.duckdb", roles={"agent1": first, "agent2": second}, judge=False, progress=False
    )
    summary = runner.run(sotopia_jobs(6, max_turns=4))
    assert summary.unjudged == 6 and summary.failed == 0
    # Strict alternation from agent1: every round is six turns of one role, one call per round.
    assert first.batches == [6, 6] and second.batches == [6, 6]


def test_auxiliary_roles_play_their_default_policy_on_the_tiny_model(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    path = tmp_path / "aux.duckdb"
    evaluated = CountingPolicy(LINES, "evaluated")
    runner = Runner(path, policy=evaluated, judge=ValidTurnShareJudge(), progress=False)
    os.environ["OSIM_PARTNER_MODEL"] = "tiny?max_new_tokens=12"
    try:
        summary = runner.run(sotopia_jobs(3, max_turns=4))
    finally:
        os.environ.pop("OSIM_PARTNER_MODEL")
    assert summary.ok == 3, summary.failures
    with ReplayStore(path) as store:
        episodes = store.episodes(runner.run_id)
        for row in episodes.itertuples():
            policies = json.loads(row.policies)
            (policy_agent,) = row.policy_agents
            partner = ({"agent1", "agent2"} - {policy_agent}).pop()
            assert policies[policy_agent]["model"] == "evaluated"
            assert policies[partner]["backend"] == "hf"
            assert replay_stored(store, row.episode_id, runner.run_id).ok
        calls = store.model_calls(runner.run_id)
        hf = calls[calls["policy"].str.contains('"backend":"hf"')]
        assert len(hf) == int(episodes["n_turns"].sum()) // 2
        assert hf["completion_tokens"].notna().all() and hf["latency_s"].notna().all()
        assert set(hf["role"]) <= {"agent1", "agent2"} and hf["episode_id"].notna().all()


@pytest.mark.parametrize("fake", [FakeFailingPolicy, FakePartialBatchPolicy])
def test_policy_failures_fail_only_their_episodes(tmp_path: Path, fake: type) -> None:
    path = tmp_path / "f.duckdb"
    policy = fake(LINES) if fake is FakePartialBatchPolicy else fake(LINES, name="failing")
    runner = Runner(
        path, roles={"agent1": policy, "agent2": policy}, judge=ValidTurnShareJudge(), progress=False
    )
    summary = runner.run(sotopia_jobs(6))
    assert (summary.ok, summary.failed) == (4, 2)
    with ReplayStore(path) as store:
        episodes = store.episodes(runner.run_id)
        failed = episodes[episodes["status"] == "failed"]
        assert len(failed) == 2 and failed["scenario_id"].nunique() == 1
        assert all("failed" in r and ("503" in r or "429" in r) for r in failed["reason"])
        for episode_id in failed["episode_id"]:
            record = store.episode(episode_id, runner.run_id)
            assert MARKER in json.dumps(record.scenario)
            assert record.events[-1].kind == "end" and record.events[-1].payload["failed"] is True
            # The failure is never conversation text and never a score.
            assert not any("503" in e.text or "429" in e.text for e in record.events if e.kind != "end")
            assert store.judgments(episode_id, runner.run_id) == []
            assert replay_stored(store, episode_id, runner.run_id).ok
        ok = episodes[episodes["status"] == "ok"]
        assert ok["score"].notna().all() and (ok["n_turns"] == 4).all()
    if fake is FakePartialBatchPolicy:  # the successful requests of a partly failed batch are kept
        assert policy.requests == 4 * 4 + 2


def test_judge_failures_are_recorded_as_judge_errors(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    policy = ScriptedPolicy(LINES)
    runner = Runner(
        path, roles={"agent1": policy, "agent2": policy}, judge=FakeRaisingJudge(), progress=False
    )
    summary = runner.run(sotopia_jobs(6))
    assert (summary.ok, summary.judge_error) == (4, 2)
    with ReplayStore(path) as store:
        scores = store.scores(runner.run_id)
        errors = scores[scores["error"].notna()]
        assert len(errors) == 2 and errors["score"].isna().all()
        assert all("TimeoutError: judge timed out" in e for e in errors["error"])
        episodes = store.episodes(runner.run_id)
        for episode_id in episodes.loc[episodes["status"] == "judge_error", "episode_id"]:
            assert MARKER in json.dumps(store.episode(episode_id, runner.run_id).scenario)


def test_restart_skips_stored_episodes_and_retry_failed(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    failing = FakeFailingPolicy(LINES, name="flaky")

    def runner(policy, **kw) -> Runner:
        return Runner(
            path, roles={"agent1": policy, "agent2": policy}, judge=False, progress=False, run_id="r", **kw
        )

    first = runner(failing).run(sotopia_jobs(3))
    assert (first.unjudged, first.failed) == (2, 1)
    again = runner(failing).run(sotopia_jobs(6))
    assert again.skipped == 3 and again.unjudged + again.failed == 3
    retried = runner(ScriptedPolicy(LINES, name="flaky"), retry_failed=True).run(sotopia_jobs(6))
    assert retried.skipped == 4 and retried.unjudged == 2
    with ReplayStore(path) as store:
        episodes = store.episodes("r")
        assert len(episodes) == 6 and episodes["episode_id"].is_unique
        assert set(episodes["status"]) == {"unjudged"}
        (dupes,) = store.sql(
            f"SELECT count(*) FROM (SELECT episode_id, idx FROM {SCHEMA}.events "
            "GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
        assert dupes == 0


def _sweep_command(store: Path) -> list[str]:
    return [
        sys.executable, "-m", "osim.cli", "run", "soul/sotopia-v0",
        "--policy", "tiny?max_new_tokens=24", "--role", "agent1=tiny?max_new_tokens=24",
        "--role", "agent2=tiny?max_new_tokens=24", "--no-judge", "--episodes", "10", "--seed", "3",
        "--concurrency", "2", "--write-batch", "2", "--option", "max_turns=6", "--store", str(store),
        "--log-flushes", "--no-progress",
    ]  # fmt: skip


def _stored(store: Path) -> tuple[list[str], int, int]:
    with ReplayStore(store, read_only=True) as s:
        ids = [r[0] for r in s.sql(f"SELECT episode_id FROM {SCHEMA}.episodes ORDER BY 1").fetchall()]
        (events,) = s.sql(f"SELECT count(*) FROM {SCHEMA}.events").fetchone()
        (distinct,) = s.sql(
            f"SELECT count(*) FROM (SELECT DISTINCT run_id, episode_id, idx FROM {SCHEMA}.events)"
        ).fetchone()
    return ids, events, distinct


def test_kill_minus_9_then_restart_loses_and_duplicates_nothing(tmp_path: Path, tiny_model_dir: Path) -> None:
    killed, clean = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        _sweep_command(killed), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("stored "):
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "".join(seen)
    partial, _, _ = _stored(killed)
    assert 0 < len(partial) < 10

    restarted = subprocess.run(_sweep_command(killed), capture_output=True, text=True, env=env, timeout=500)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert f"{len(partial)} already stored" in restarted.stdout
    uninterrupted = subprocess.run(
        _sweep_command(clean), capture_output=True, text=True, env=env, timeout=500
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    ids, events, distinct = _stored(killed)
    clean_ids, clean_events, _ = _stored(clean)
    assert len(ids) == 10 and ids == clean_ids
    assert set(partial) <= set(ids)
    assert events == distinct  # no event stored twice
    assert events > 0 and clean_events > 0


def test_runs_table_names_the_judge_that_scored_each_env(tmp_path: Path) -> None:
    store = tmp_path / "judges.duckdb"
    run_id = (
        Runner(store, policy=lambda obs: "<answer>A</answer>", progress=False)
        .run(jobs_for("soul/hitom-v0", 2))
        .run_id
    )
    with ReplayStore(store, read_only=True) as s:
        (judges,) = s.con.execute(f"SELECT judges FROM {SCHEMA}.runs WHERE run_id = ?", [run_id]).fetchone()
    judges = json.loads(judges)
    assert judges["judge"] == "env default" and judges["by_env"]["soul/hitom-v0"]["kind"] == "mcq"
    judge_model = "openai:judge-model@http://127.0.0.1:9/v1"
    jobs = jobs_for("soul/sotopia-v0", 1, options={"judge_model": judge_model})
    spec = Runner(tmp_path / "other.duckdb", policy="random", progress=False)._judge_specs(jobs)
    reward = spec["soul/sotopia-v0"]  # Sotopia's default reward: its judge with the hack auditor
    assert reward["components"]["task"]["judge"]["model"]["model"] == "judge-model"
    assert reward["model_detectors"]["hack_auditor"]["model"]["model"] == "judge-model"
    assert Runner(store, policy="random", judge=False, progress=False)._judge_specs(jobs) == {
        "soul/sotopia-v0": None
    }
