"""Every user error of the ``osim`` command is one line on stderr and exit status 2, found before a
model is loaded or anything is stored; runs that mix statuses and unknown runs never crash or pass
silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from testing_judges import FailingJudge

from judges.judgment import Judgment
from osim.cli import main
from osim.runner import Runner, jobs_for
from osim_env.data import fixture_path
from replays import ReplayStore

HITOM_ROW = fixture_path("scenarios.hitom").read_text(encoding="utf-8").splitlines()[0]


def osim(*args: str, cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("osim")
    # In-process calls of main() in other tests set the quieting variables in this process: drop them.
    dropped = {"OSIM_DEBUG", "TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("VLLM_")}
    env.update({"HF_HUB_OFFLINE": "1", "COLUMNS": "100", **(extra_env or {})})
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a small store (one Hi-ToM run), a scripted file, data files and junk."""
    root = tmp_path_factory.mktemp("cli_errors")
    (root / "answers.txt").write_text("<answer>A</answer>\n", encoding="utf-8")
    (root / "bad.jsonl").write_text(HITOM_ROW + "\n" + '{"data_source": "hitom", "extra_info": 3}\n')
    (root / "broken.jsonl").write_text(HITOM_ROW + "\n\n{not json\n", encoding="utf-8")
    (root / "empty.jsonl").write_text("\n", encoding="utf-8")
    (root / "junk.duckdb").write_bytes(b"this is not a database\n" * 100)
    runner = Runner(root / "runs.duckdb", policy=lambda obs: "<answer>A</answer>", progress=False)
    runner.run(jobs_for("soul/hitom-v0", 2))
    return root


CASES = {
    "unknown env id": (["run", "soul/sotopa-v0", "--policy", "tiny"], ["soul/sotopa-v0", "soul/sotopia-v0"]),
    "unknown policy spec": (["run", "soul/hitom-v0", "--policy", "gpt4"], ["'gpt4'", "hf:PATH"]),
    "misspelt spec option": (
        ["run", "soul/hitom-v0", "--policy", "tiny?temprature=0.7"],
        ["'temprature'", "did you mean 'temperature'"],
    ),
    "missing scripted file": (["run", "soul/hitom-v0", "--policy", "scripted:nope.txt"], ["nope.txt"]),
    "model path that does not exist": (
        ["run", "soul/hitom-v0", "--policy", "hf:./models/missing"],
        ["./models/missing", "no model directory"],
    ),
    "unknown role": (
        ["run", "soul/sotopia-v0", "--policy", "random", "--role", "agent3=random"],
        ["'agent3'", "agent1, agent2"],
    ),
    "bad role spec": (
        ["run", "soul/sotopia-v0", "--policy", "random", "--role", "agent2=hf:"],
        ["--role agent2", "needs a target"],
    ),
    "unknown env option": (
        ["run", "soul/sotopia-v0", "--policy", "random", "--option", "max_turn=3"],
        ["max_turn"],
    ),
    "malformed --option": (["run", "soul/hitom-v0", "--policy", "random", "--option", "x"], ["KEY=VALUE"]),
    "judge for a rule-judged env": (
        ["run", "soul/hitom-v0", "--policy", "random", "--judge", "tiny"],
        ["rule"],
    ),
    "missing data file": (["run", "soul/hitom-v0", "--policy", "random", "--data", "no.jsonl"], ["no.jsonl"]),
    "bad data row": (
        ["run", "soul/hitom-v0", "--policy", "random", "--data", "bad.jsonl"],
        ["bad.jsonl", "line 2", "extra_info"],
    ),
    "data line that is not JSON": (
        ["run", "soul/hitom-v0", "--policy", "random", "--data", "broken.jsonl"],
        ["broken.jsonl", "line 3", "not valid JSON"],
    ),
    "empty data file": (["run", "soul/hitom-v0", "--policy", "random", "--data", "empty.jsonl"], ["no rows"]),
    "store that is not a DuckDB file": (
        ["run", "soul/hitom-v0", "--policy", "random", "--store", "junk.duckdb"],
        ["junk.duckdb", "not an osim replay store"],
    ),
    "missing store": (["replay", "list", "--store", "missing.duckdb"], ["missing.duckdb"]),
    "unknown episode": (["replay", "show", "feedbeef", "--store", "runs.duckdb"], ["'feedbeef'"]),
    "unknown run (list)": (["replay", "list", "--store", "runs.duckdb", "--run", "nope"], ["'nope'"]),
    "unknown run (check)": (["replay", "check", "--store", "runs.duckdb", "--run", "nope"], ["'nope'"]),
    "unknown run (export)": (
        ["replay", "export", "sft", "out.jsonl", "--store", "runs.duckdb", "--run", "nope"],
        ["'nope'"],
    ),
    "unknown run (rejudge)": (["replay", "rejudge", "nope", "--store", "runs.duckdb"], ["'nope'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_error_is_one_line_and_exit_2(case: str, workdir: Path) -> None:
    args, needles = CASES[case]
    before = sorted(p.name for p in workdir.iterdir())
    done = osim(*args, cwd=workdir)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("osim: error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert sorted(p.name for p in workdir.iterdir()) == before  # nothing stored, nothing created


def test_debug_shows_the_traceback(workdir: Path) -> None:
    done = osim("run", "soul/sotopa-v0", "--policy", "tiny", "--debug", cwd=workdir)
    assert "Traceback" in done.stderr and "UserError" in done.stderr
    done = osim("run", "soul/sotopa-v0", "--policy", "tiny", cwd=workdir, extra_env={"OSIM_DEBUG": "1"})
    assert "Traceback" in done.stderr


def test_run_help_shows_defaults_and_spec_formats(workdir: Path) -> None:
    done = osim("run", "--help", cwd=workdir)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "(default: 10)" in text and "(default: osim_runs/osim.duckdb)" in text
    assert "scripted:FILE" in text and "openai:MODEL[@BASE_URL]" in text


def _mixed_run(store: Path) -> str:
    """A run whose first episode is judged and whose second fails its judge."""

    class EveryOtherFails(FailingJudge):
        spec = {"kind": "rule", "name": "every_other"}

        def judge_episode(self, episode):
            if episode.seed % 2:
                return super().judge_episode(episode)
            return {a: Judgment(agent=a, score=1.0, judge=self.spec) for a in episode.policy_agents}

    runner = Runner(store, policy=lambda obs: "<answer>A</answer>", judge=EveryOtherFails(), progress=False)
    return runner.run(jobs_for("soul/hitom-v0", 4)).run_id


def test_replay_list_of_a_run_mixing_ok_and_judge_error(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    store = tmp_path / "mixed.duckdb"
    run_id = _mixed_run(store)
    with ReplayStore(store, read_only=True) as s:
        assert set(s.episodes(run_id)["status"]) == {"ok", "judge_error"}
    assert main(["replay", "list", "--store", str(store), "--run", run_id]) == 0
    out = capsys.readouterr().out
    assert "judge call timed out" in out and "nan" not in out


def test_status_without_run_lists_matching_episodes_of_every_run(tmp_path: Path, capsys) -> None:
    store = tmp_path / "mixed.duckdb"
    run_id = _mixed_run(store)
    Runner(store, policy=lambda obs: "<answer>B</answer>", progress=False).run(jobs_for("soul/hitom-v0", 2))
    assert main(["replay", "list", "--store", str(store), "--status", "judge_error"]) == 0
    out = capsys.readouterr().out
    assert "episodes of all runs (status judge_error)" in out
    assert out.count(run_id) == 2 and " ok " not in out


def test_rejudge_that_fails_everywhere_groups_reasons_and_exits_1(tmp_path: Path, capsys) -> None:
    store = tmp_path / "mixed.duckdb"
    run_id = _mixed_run(store)
    args = ["replay", "rejudge", run_id, "--store", str(store), "--no-progress"]
    code = main([*args, "--judge-factory", "testing_judges:FailingJudge"])
    captured = capsys.readouterr()
    assert code == 1
    assert "errors by reason:" in captured.out
    assert "      4  judge call timed out after 3 attempts" in captured.out
    assert "every one of the 4 judgments failed" in captured.err
    assert main([*args, "--judge-factory", "testing_judges:ValidTurnShareJudge"]) == 0


def test_error_lines_name_row_and_field_for_parquet_too(tmp_path: Path, workdir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = json.loads(HITOM_ROW)
    broken = {**row, "extra_info": {**row["extra_info"], "story": ""}}
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([row, broken]), path)
    done = osim("run", "soul/hitom-v0", "--policy", "random", "--data", str(path), cwd=workdir)
    assert done.returncode == 2
    assert "rows.parquet" in done.stderr and "row 2" in done.stderr and "story" in done.stderr


def test_tables_fold_text_and_keep_the_score_column_in_80_columns(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    store = tmp_path / "mixed.duckdb"
    run_id = _mixed_run(store)
    for args in (["--run", run_id], ["--status", "judge_error"], []):
        assert main(["replay", "list", "--store", str(store), *args]) == 0
        out = capsys.readouterr().out
        assert max(len(line) for line in out.splitlines()) <= 80
        assert run_id in out  # ids are never cut or folded
        header = " ".join(out.split("───")[0].split())
        assert header.endswith("score reason" if args else "n ok/jerr/failed")
    assert main(["replay", "list", "--store", str(store), "--run", run_id]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if "soul/hitom" in line]
    assert [(row[2], row[4]) for row in rows] == [("ok", "1.000"), ("judge_error", "-")] * 2


def test_model_library_bars_are_hidden_unless_verbose(tmp_path: Path, tiny_model_dir: Path) -> None:
    args = ["run", "soul/hitom-v0", "--policy", "tiny", "--episodes", "1", "--no-progress"]
    quiet = osim(*args, "--store", "quiet.duckdb", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "Loading weights" not in quiet.stdout + quiet.stderr and "1 episodes run" in quiet.stdout
    verbose = osim(*args, "--store", "verbose.duckdb", "--verbose", cwd=tmp_path)
    assert verbose.returncode == 0 and "Loading weights" in verbose.stderr
