"""``osim replay export episodes`` / ``osim replay import``: whole episodes move between stores and
come back byte for byte; importing twice duplicates nothing."""

from __future__ import annotations

from pathlib import Path

from testing_judges import ValidTurnShareJudge

from osim.cli import main
from osim.runner import Runner, jobs_for
from replays import ReplayStore, replay_stored


def answer_a(observation) -> str:
    return "<answer>A</answer>"


def _store_with_two_runs(path: Path) -> list[str]:
    hitom = Runner(path, policy=answer_a, progress=False).run(jobs_for("soul/hitom-v0", 3))
    speak = '{"action_type": "speak", "argument": "Fine, 120 then."}'
    sotopia = Runner(
        path, policy=lambda obs: speak, roles={"agent2": lambda obs: "(shrugs)"}, judge=ValidTurnShareJudge(),
        progress=False,
    ).run(jobs_for("soul/sotopia-v0", 2, options={"max_turns": 4}))  # fmt: skip
    return [hitom.run_id, sotopia.run_id]


def test_export_import_round_trips_byte_for_byte(tmp_path: Path, capsys) -> None:
    source, target = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    hitom_run, sotopia_run = _store_with_two_runs(source)
    first, again = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["replay", "export", "episodes", str(first), "--store", str(source)]) == 0
    assert "wrote 5 episodes" in capsys.readouterr().out
    assert main(["replay", "import", str(first), "--store", str(target)]) == 0
    assert "imported 5 episodes (2 new runs)" in capsys.readouterr().out
    assert main(["replay", "import", str(first), "--store", str(target)]) == 0
    out = capsys.readouterr().out
    assert "imported 0 episodes (0 new runs)" in out and "5 already stored" in out
    assert main(["replay", "export", "episodes", str(again), "--store", str(target)]) == 0
    assert first.read_bytes() == again.read_bytes()
    with ReplayStore(source, read_only=True) as a, ReplayStore(target, read_only=True) as b:
        for view in ("episodes", "scores"):
            query = f"SELECT * FROM {view} ORDER BY run_id, episode_id"
            assert a.sql(query).fetchall() == b.sql(query).fetchall()
        assert len(b.model_calls()) == len(a.model_calls())
        for row in b.episodes().itertuples():
            assert replay_stored(b, row.episode_id, row.run_id).ok


def test_export_one_run_and_merge_into_a_store_that_has_part_of_it(tmp_path: Path, capsys) -> None:
    source = tmp_path / "a.duckdb"
    hitom_run, sotopia_run = _store_with_two_runs(source)
    one = tmp_path / "hitom.jsonl"
    assert main(["replay", "export", "episodes", str(one), "--store", str(source), "--run", hitom_run]) == 0
    assert "wrote 3 episodes" in capsys.readouterr().out
    target = tmp_path / "b.duckdb"
    assert (
        Runner(target, policy=answer_a, progress=False).run(jobs_for("soul/hitom-v0", 1)).run_id == hitom_run
    )
    assert main(["replay", "import", str(one), "--store", str(target)]) == 0
    assert "imported 2 episodes (0 new runs) into" in capsys.readouterr().out
    with ReplayStore(target, read_only=True) as b:
        assert len(b.episodes(hitom_run)) == 3 and len(b.runs()) == 1


def test_bad_episode_files_and_flags_are_user_errors(tmp_path: Path, capsys) -> None:
    store = tmp_path / "a.duckdb"
    _store_with_two_runs(store)
    not_ours = tmp_path / "rows.jsonl"
    not_ours.write_text('{"story": "x"}\n', encoding="utf-8")
    assert main(["replay", "import", str(not_ours), "--store", str(store)]) == 2
    assert "not an osim episodes file" in capsys.readouterr().err
    assert main(["replay", "import", str(tmp_path / "none.jsonl"), "--store", str(store)]) == 2
    out = tmp_path / "x.jsonl"
    assert main(["replay", "export", "episodes", str(out), "--store", str(store), "--min-score", "1"]) == 2
    assert "--min-score" in capsys.readouterr().err and not out.exists()
