"""``--judge-cache`` on ``osim run`` and ``osim replay rejudge``: a second rejudge with the same judge
makes no model call."""

from __future__ import annotations

import json
from pathlib import Path

import testing_judges

from osim.cli import main
from osim.runner import Runner, jobs_for

SPEAK = json.dumps({"action_type": "speak", "argument": "I can do 120, not a cent more."})


def _unjudged_sotopia_run(store: Path) -> str:
    runner = Runner(
        store, policy=lambda obs: SPEAK, roles={"agent2": lambda obs: SPEAK}, judge=False, progress=False
    )
    return runner.run(jobs_for("soul/sotopia-v0", 3, options={"max_turns": 4})).run_id


def _rejudge(run_id: str, store: Path, *extra: str) -> tuple[int, int]:
    """(exit code, judge model requests made) of one rejudge with a fresh fake-model judge."""
    before = len(testing_judges.FAKE_JUDGE_MODELS)
    code = main(["replay", "rejudge", run_id, "--store", str(store), "--no-progress",
                 "--judge-factory", "testing_judges:sotopia_judge_on_a_fake_model", *extra])  # fmt: skip
    (model,) = testing_judges.FAKE_JUDGE_MODELS[before:]
    return code, len(model.requests)


def test_second_rejudge_with_the_same_judge_makes_no_model_call(tmp_path: Path, capsys) -> None:
    # Sotopia's default reward makes two calls per episode: the 7-dimension judge and the hack auditor.
    store = tmp_path / "runs.duckdb"
    run_id = _unjudged_sotopia_run(store)
    code, calls = _rejudge(run_id, store)
    out = capsys.readouterr().out
    assert code == 0 and calls == 6
    assert f"judge cache {tmp_path / 'judge_cache.duckdb'}: 0 hits, 6 misses" in out
    code, calls = _rejudge(run_id, store)
    assert code == 0 and calls == 0
    assert "6 hits, 0 misses" in capsys.readouterr().out
    code, calls = _rejudge(run_id, store, "--no-judge-cache")
    assert code == 0 and calls == 6 and "judge cache" not in capsys.readouterr().out
    other = tmp_path / "elsewhere" / "cache.duckdb"
    assert _rejudge(run_id, store, "--judge-cache", str(other)) == (0, 6) and other.exists()


def test_run_uses_the_cache_for_its_judge(tmp_path: Path, capsys) -> None:
    store = tmp_path / "runs.duckdb"
    script = tmp_path / "answers.txt"
    script.write_text("<answer>A</answer>\n", encoding="utf-8")
    args = ["run", "soul/hitom-v0", "--policy", f"scripted:{script}", "--episodes", "2",
            "--store", str(store), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "judge cache" in out and "0 hits, 0 misses" in out  # a rule judge calls no model
    assert main([*args, "--no-judge-cache"]) == 0
    assert "judge cache" not in capsys.readouterr().out
