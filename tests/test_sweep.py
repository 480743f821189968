"""``osim sweep``: sampling with the sweep seed (data file or fixture, said in the output), one run per
(policy, task), resume after ``kill -9`` with both executors, and the Ray executor producing the same
store contents as the local one on a local Ray cluster started here (README "Sweeps and the leaderboard").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import osim_env
from osim import sweep
from replays import ReplayStore
from replays.schema import SCHEMA

MCQ_TASKS = ["soul/hitom-v0", "soul/tomi-v0", "soul/twinvoice-v0"]


@pytest.fixture
def script(tmp_path: Path) -> Path:
    """A one-line script: every episode gets the same answer, whatever order the episodes run in."""
    path = tmp_path / "answer_a.txt"
    path.write_text("Let me think. <answer>A</answer>\n")
    return path


def _published(tmp_path: Path, rows: int) -> Path:
    """A data folder with ``hitom/test.parquet`` in the published layout, ``rows`` distinct rows."""
    fixture = [
        json.loads(line) for line in Path("scenarios/hitom/data/fixture.jsonl").read_text().splitlines()
    ]
    extra = []
    for i in range(rows):
        row = dict(fixture[i % len(fixture)])
        row = row.get("extra_info", row)
        extra.append(json.dumps({**row, "index": f"hitom-{i}"}))
    folder = tmp_path / "data" / "hitom"
    folder.mkdir(parents=True)
    table = pa.table({"data_source": ["hitom"] * rows, "extra_info": extra})
    pq.write_table(table, folder / "test.parquet")
    return tmp_path / "data"


def test_rows_are_sampled_with_the_seed_from_the_data_file_or_the_fixture(tmp_path: Path) -> None:
    data = _published(tmp_path, 30)
    plan = sweep.plan_task("soul/hitom-v0", 10, seed=0, data_dir=data)
    assert plan.source == str(data / "hitom" / "test.parquet") and not plan.from_fixture
    ids = [s.scenario_id for s in plan.scenarios]
    assert len(ids) == len(set(ids)) == 10 and plan.available == 30
    assert ids == [s.scenario_id for s in sweep.plan_task("soul/hitom-v0", 10, 0, data).scenarios]
    assert ids != [s.scenario_id for s in sweep.plan_task("soul/hitom-v0", 10, 1, data).scenarios]
    fixture = sweep.plan_task("soul/tomi-v0", 100, seed=0, data_dir=data)  # no tomi file there
    assert fixture.from_fixture and len(fixture.scenarios) == fixture.available < 100
    assert "only" in fixture.describe(100) and "fixture" in fixture.describe(100)
    assert sweep.resolve_tasks("hitom,soul/tomi-v0") == ["soul/hitom-v0", "soul/tomi-v0"]
    with pytest.raises(ValueError, match="unknown SOUL task 'hitomm'"):
        sweep.resolve_tasks("hitomm")


def test_published_evaluation_file_names_are_found(tmp_path: Path) -> None:
    data = _published(tmp_path, 6)
    (data / "hitom" / "test.parquet").rename(data / "hitom_val.parquet")  # the 27-suite file name
    (data / "hitom").rmdir()
    plan = sweep.plan_task("soul/hitom-v0", 4, seed=0, data_dir=data)
    assert plan.source == str(data / "hitom_val.parquet") and plan.available == 6


def test_ids_sharing_a_package_sample_only_their_own_rows(tmp_path: Path) -> None:
    book = sweep.plan_task("soul/humanual-book-v0", 3, seed=0)  # the fixture holds all six domains
    assert book.from_fixture and {s.row.domain for s in book.scenarios} == {"book"}
    fixture = Path("scenarios/humanual/data/fixture.jsonl").read_text(encoding="utf-8")
    (tmp_path / "humanual.jsonl").write_text(fixture, encoding="utf-8")  # a file mixing the domains
    mixed = sweep.plan_task("soul/humanual-news-v0", 5, seed=0, data_dir=tmp_path)
    assert mixed.source == str(tmp_path / "humanual.jsonl")
    assert {s.row.domain for s in mixed.scenarios} == {"news"} and mixed.available == 1


def test_suites_name_their_tasks() -> None:
    from osim.suites import CATEGORIES, PAPER_TASKS, SOUL_INDEX_TASKS

    index = sweep.suite_tasks("soul-index")
    assert index == list(SOUL_INDEX_TASKS) and len(set(index)) == 23
    assert set(index) == {t for members in CATEGORIES.values() for t in members}
    assert sweep.suite_tasks("soul-paper") == list(PAPER_TASKS) and set(PAPER_TASKS) < set(index)
    everything = sweep.suite_tasks("soul")
    assert set(index) <= set(everything) and "soul/tau-user-v0" in set(everything) - set(index)
    assert sweep.resolve_tasks(None, "soul-paper") == list(PAPER_TASKS)
    with pytest.raises(ValueError, match="unknown suite 'bench'"):
        sweep.suite_tasks("bench")


def _contents(store: Path) -> list[tuple]:
    """What a sweep stored, independent of timing: per episode its run, ids, seed, status and score."""
    with ReplayStore(store, read_only=True) as s:
        return s.sql(
            "SELECT run_id, env_id, episode_id, scenario_id, seed, status, score "
            "FROM main.episodes ORDER BY ALL"
        ).fetchall()


def _config(store: Path, script: Path, **kw: object) -> sweep.SweepConfig:
    return sweep.SweepConfig(
        policies=[f"scripted:{script}", "random:4?seed=3"],
        store=store,
        tasks=MCQ_TASKS,
        instances=3,
        seed=5,
        progress=False,
        **kw,  # type: ignore[arg-type]
    )


def test_one_run_per_policy_and_task_and_a_second_sweep_skips_everything(
    tmp_path: Path, script: Path
) -> None:
    store = tmp_path / "runs.duckdb"
    said: list[str] = []
    results = sweep.run(_config(store, script), say=said.append)
    assert len(results) == 6 and len({r.summary.run_id for r in results}) == 6
    assert sum("fixture" in line for line in said) == 3 and any(line.startswith("[6/6]") for line in said)
    first = _contents(store)
    assert len(first) == 18 and {row[5] for row in first} == {"ok"}
    again = sweep.run(_config(store, script), say=said.append)
    assert sum(r.summary.skipped for r in again) == 18 and sum(r.summary.finished for r in again) == 0
    assert _contents(store) == first


@pytest.fixture(scope="module")
def ray_cluster(osim_cache_dir: Path) -> Iterator[str]:
    """A local Ray cluster for this module (2 CPUs), shut down afterwards; yields its address."""
    ray = pytest.importorskip("ray")
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield context.address_info["gcs_address"]
    finally:
        ray.shutdown()


def test_ray_executor_stores_what_the_local_executor_stores(
    ray_cluster: str, tmp_path: Path, script: Path
) -> None:
    local, distributed = tmp_path / "local.duckdb", tmp_path / "ray.duckdb"
    config = _config(local, script)
    config.policies = [f"scripted:{script}"]  # a random policy's draws depend on the order of its calls
    sweep.run(config, say=lambda _: None)
    config.store, config.executor, config.shard_size = distributed, "ray", 2
    results = sweep.run(config, say=lambda _: None)
    assert sum(r.summary.ok for r in results) == 9
    assert _contents(distributed) == _contents(local)
    with ReplayStore(distributed, read_only=True) as s:
        (dupes,) = s.sql(
            f"SELECT count(*) FROM (SELECT run_id, episode_id, idx FROM {SCHEMA}.events GROUP BY ALL "
            "HAVING count(*) > 1)"
        ).fetchone()
    assert dupes == 0


def _sweep_command(store: Path, executor: str, address: str | None) -> list[str]:
    command = [
        sys.executable, "-m", "osim.cli", "sweep", "soul", "--policy", "tiny?max_new_tokens=8",
        "--tasks", "hitom,tomi", "--instances", "3", "--seed", "1", "--store", str(store),
        "--concurrency", "1", "--write-batch", "1", "--log-flushes", "--no-progress", "--no-judge-cache",
        "--executor", executor, "--shard-size", "1",
    ]  # fmt: skip
    return command + (["--address", address] if address else [])


def _stored(store: Path) -> tuple[list[str], int, int]:
    with ReplayStore(store, read_only=True) as s:
        ids = [r[0] for r in s.sql(f"SELECT episode_id FROM {SCHEMA}.episodes ORDER BY 1").fetchall()]
        (events,) = s.sql(f"SELECT count(*) FROM {SCHEMA}.events").fetchone()
        (distinct,) = s.sql(
            f"SELECT count(*) FROM (SELECT DISTINCT run_id, episode_id, idx FROM {SCHEMA}.events)"
        ).fetchone()
    return ids, events, distinct


def _planned_ids(tasks: list[str], *, instances: int, seed: int) -> list[str]:
    """The episode ids an uninterrupted sweep stores: (env, sampled row, seed) of every planned job."""
    ids = []
    for env_id in tasks:
        for job in sweep.jobs_of(sweep.plan_task(env_id, instances, seed), seed):
            env = osim_env.make(job.env_id, scenario=job.scenario, judge=False)
            env.reset(seed=job.seed)
            ids.append(env.unwrapped.episode_id)
    return sorted(ids)


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_kill_minus_9_then_the_same_sweep_loses_and_duplicates_nothing(
    executor: str, request: pytest.FixtureRequest, tmp_path: Path, tiny_model_dir: Path
) -> None:
    address = request.getfixturevalue("ray_cluster") if executor == "ray" else None
    killed = tmp_path / "killed.duckdb"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = _sweep_command(killed, executor, address)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
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
    assert 0 < len(partial) < 6

    restarted = subprocess.run(command, capture_output=True, text=True, env=env, timeout=500)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert f"{len(partial)} already stored (skipped)" in restarted.stdout
    ids, events, distinct = _stored(killed)
    assert ids == _planned_ids(["soul/hitom-v0", "soul/tomi-v0"], instances=3, seed=1) and len(ids) == 6
    assert set(partial) <= set(ids)
    assert events == distinct > 0  # no event stored twice


def test_sweep_command_errors_are_one_line(tmp_path: Path) -> None:
    def osim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "osim.cli", *args], capture_output=True, text=True, timeout=120
        )

    store = str(tmp_path / "runs.duckdb")
    cases = [
        (["sweep", "bench", "--policy", "random", "--store", store], "unknown suite 'bench'"),
        (
            ["sweep", "soul", "--policy", "random", "--tasks", "hitomm", "--store", store],
            "--tasks: unknown SOUL task",
        ),
        (["sweep", "soul", "--policy", "nope:x", "--store", store], "--policy"),
        (["sweep", "soul", "--policy", "random", "--data-dir", "/no/such", "--store", store], "--data-dir"),
        (["sweep", "soul", "--policy", "random", "--instances", "0", "--store", store], "--instances"),
    ]
    for args, message in cases:
        result = osim(*args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("osim: error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not Path(store).exists()


def test_soul_index_sweep_runs_all_23_tasks_offline_and_the_leaderboard_reports_the_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # random:4 plays every policy role and stands in for every LLM judge (its judgments fail, and are
    # counted as judge errors, never scores); auxiliary roles play their task's default (the tiny model).
    from osim.cli import main
    from osim.suites import CATEGORIES, SOUL_INDEX_TASKS

    store = str(tmp_path / "runs.duckdb")
    args = ["sweep", "soul-index", "--policy", "random:4", "--judge", "random:4", "--instances", "1",
            "--store", store, "--no-progress"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--store", store, "--format", "json"]) == 0
    board = json.loads(capsys.readouterr().out)
    tasks = {row["task"]: row for row in board["tasks"]}
    assert set(tasks) == set(SOUL_INDEX_TASKS)
    assert all(r["n"] + r["n_error"] + r["n_failed"] == 1 for r in tasks.values())
    [averages] = board["averages"]
    scored = [t for t, r in tasks.items() if r["score"] is not None]
    assert averages["index_tasks"] == len(scored) and averages["index_complete"] is (len(scored) == 23)
    assert averages["soul_index"] == pytest.approx(sum(tasks[t]["score"] for t in scored) / len(scored))
    for category, members in CATEGORIES.items():
        present = [tasks[t]["score"] for t in members if t in scored]
        expected = sum(present) / len(present) if present else None
        assert averages[category] == (pytest.approx(expected) if present else None)
