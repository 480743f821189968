"""The ``osim`` command line: demo, envs, run and the replay subcommands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from osim.cli import main
from osim_env.data import fixture_path
from replays import ReplayStore, replay_stored

FIXTURE = fixture_path("scenarios.hitom")


def osim_script() -> str:
    script = Path(sys.executable).with_name("osim")
    if not script.exists():
        pytest.fail(f"the osim console script is not installed next to {sys.executable}")
    return str(script)


def test_demo_runs_offline_on_the_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    store = tmp_path / "demo.duckdb"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120"}
    for key in ("OPENAI_API_KEY", "OSIM_JUDGE_MODEL", "OSIM_PARTNER_MODEL"):
        env.pop(key, None)
    done = subprocess.run(
        [osim_script(), "demo", "--store", str(store), "--episodes", "2", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "soul/sotopia-v0" in done.stdout and "soul/hitom-v0" in done.stdout
    assert f"store: {store.resolve()}" in done.stdout
    with ReplayStore(store, read_only=True) as s:
        summary = s.summary().set_index("env_id")
        assert summary.loc["soul/hitom-v0", "episodes"] == 2
        assert summary.loc["soul/sotopia-v0", "episodes"] == 2
        episodes = s.episodes()
        assert set(episodes["status"]) <= {"ok", "judge_error"}
        hitom = episodes[episodes["env_id"] == "soul/hitom-v0"]
        assert (hitom["status"] == "ok").all() and hitom["score"].notna().all()
        # Every episode's model calls are recorded, and every episode replays exactly.
        assert len(s.model_calls()) > 0
        for row in episodes.itertuples():
            assert replay_stored(s, row.episode_id, row.run_id).ok
    # Everything is stored: a second demo loads no model (--verbose would show its loading bars).
    again = subprocess.run(
        [osim_script(), "demo", "--store", str(store), "--episodes", "2", "--no-progress", "--verbose"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 episodes run, 4 already stored" in again.stdout
    assert "Loading weights" not in again.stdout + again.stderr


def test_envs_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs"]) == 0
    out = capsys.readouterr().out.split()
    assert "soul/sotopia-v0" in out and "soul/hitom-v0" in out


@pytest.fixture
def hitom_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    script = tmp_path / "answers.txt"
    script.write_text("<answer>A</answer>\n<answer>B</answer>\n<answer>C</answer>\n", encoding="utf-8")
    store = tmp_path / "cli.duckdb"
    code = main(
        ["run", "soul/hitom-v0", "--policy", f"scripted:{script}", "--episodes", "6", "--seed", "0",
         "--store", str(store), "--concurrency", "1", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "6 episodes run" in out
    with ReplayStore(store, read_only=True) as s:
        (run_id,) = s.runs()["run_id"]
    return store, run_id


def test_run_resumes_with_the_same_command(hitom_store: tuple[Path, str], capsys) -> None:
    store, run_id = hitom_store
    script = next(store.parent.glob("answers.txt"))
    main(
        ["run", "soul/hitom-v0", "--policy", f"scripted:{script}", "--episodes", "8", "--seed", "0",
         "--store", str(store), "--concurrency", "1", "--no-progress"]
    )  # fmt: skip
    assert "2 episodes run, 6 already stored" in capsys.readouterr().out
    with ReplayStore(store, read_only=True) as s:
        assert list(s.runs()["run_id"]) == [run_id] and len(s.episodes(run_id)) == 8


def test_replay_list_show_check(hitom_store: tuple[Path, str], capsys) -> None:
    store, run_id = hitom_store
    assert main(["replay", "list", "--store", str(store)]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["replay", "list", "--store", str(store), "--run", run_id]) == 0
    listing = capsys.readouterr().out
    with ReplayStore(store, read_only=True) as s:
        episode_id = s.episodes(run_id)["episode_id"][0]
    assert episode_id in listing
    assert main(["replay", "show", episode_id[:8], "--store", str(store)]) == 0
    shown = capsys.readouterr().out
    assert "answerer" in shown and "-> all" in shown and "judgments:" in shown
    assert "message" in shown and "end" in shown and "score" in shown
    assert main(["replay", "check", "--store", str(store), "--run", run_id]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 6


def test_replay_export_and_rejudge(hitom_store: tuple[Path, str], tmp_path: Path, capsys) -> None:
    store, run_id = hitom_store
    # A second run on one scenario (its gold is A): same prompt, answers A, B, C -> preference pairs.
    data = tmp_path / "one_row.jsonl"
    data.write_text(FIXTURE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    script = next(store.parent.glob("answers.txt"))
    code = main(
        ["run", "soul/hitom-v0", "--policy", f"scripted:{script}", "--episodes", "3", "--data", str(data),
         "--store", str(store), "--concurrency", "1", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    with ReplayStore(store, read_only=True) as s:
        (one_row_run,) = set(s.runs()["run_id"]) - {run_id}
    capsys.readouterr()
    out = tmp_path / "pairs.parquet"
    assert (
        main(["replay", "export", "preference", str(out), "--store", str(store), "--run", one_row_run]) == 0
    )
    assert "wrote 2 preference rows" in capsys.readouterr().out
    pairs = datasets.load_dataset("parquet", data_files=str(out), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(pairs.column_names)
    assert pairs["chosen"] == [[{"role": "assistant", "content": "<answer>A</answer>"}]] * 2
    empty = tmp_path / "none.parquet"
    code = main(["replay", "export", "preference", str(empty), "--store", str(store), "--min-score", "2"])
    assert code == 1 and "no preference rows match" in capsys.readouterr().err and not empty.exists()
    sft = tmp_path / "sft.jsonl"
    assert main(["replay", "export", "sft", str(sft), "--store", str(store), "--min-score", "1"]) == 0
    rows = datasets.load_dataset("json", data_files=str(sft), split="train")
    assert "messages" in rows.column_names and set(rows["score"]) == {1.0}
    code = main(
        ["replay", "rejudge", run_id, "--store", str(store), "--judge-factory",
         "testing_judges:ValidTurnShareJudge", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    assert "6 episodes rejudged" in capsys.readouterr().out
    with ReplayStore(store, read_only=True) as s:
        assert (s.scores(run_id)["origin"] == "rejudge").sum() == 6


def test_judge_model_is_refused_for_rule_judged_envs(tmp_path: Path, capsys) -> None:
    store = tmp_path / "x.duckdb"
    code = main(["run", "soul/hitom-v0", "--policy", "random", "--judge", "tiny", "--store", str(store)])
    assert code == 2
    assert "rule-based" in capsys.readouterr().err
    assert not store.exists()


def test_judge_model_sets_the_llm_judge_option_of_sotopia() -> None:
    from osim.checks import with_judge_model

    options = with_judge_model("soul/sotopia-v0", {"max_turns": 4}, "openai:judge@http://127.0.0.1:9/v1")
    assert options == {"max_turns": 4, "judge_model": "openai:judge@http://127.0.0.1:9/v1"}
    assert with_judge_model("soul/hitom-v0", {}, None) == {}
