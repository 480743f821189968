"""``osim train distill --mode forward``: a scripted teacher plays Hi-ToM into the store, only its
score-1 episodes become SFT data, and the student's accuracy on those rows rises after training."""

from __future__ import annotations

import json

import osim_env
from osim.cli import main
from osim.runner import Runner, jobs_for
from replays import ReplayStore, to_dataset

LETTERS = "ABCDEF"


def gold_letters() -> list[str]:
    """The letter each Hi-ToM fixture row scores 1 with, found through the env's own judge."""
    rows = osim_env.make_raw("soul/hitom-v0").candidate_scenarios()
    gold = []
    for row in rows:
        for letter in LETTERS:
            env = osim_env.make("soul/hitom-v0", scenario=row)
            env.reset(seed=0)
            env.step(f"<answer>{letter}</answer>")
            if env.rewards["answerer"] == 1.0:
                gold.append(letter)
                break
    assert len(gold) == len(rows)
    return gold


def accuracy(policy: str, rows: list, store) -> float:
    runner = Runner(store, policy=policy, progress=False)
    summary = runner.run(jobs_for("soul/hitom-v0", len(rows), seed=100, scenarios=rows))
    with ReplayStore(store, read_only=True) as s:
        return float(s.summary(summary.run_id)["mean_score"].iloc[0])


def test_forward_distillation_keeps_score_one_episodes_and_raises_accuracy(tmp_path, tiny_model_dir, capsys):
    gold = gold_letters()
    wrong = LETTERS[(LETTERS.index(gold[-1]) + 1) % 4]
    # The teacher reasons and answers right on every row but the last.
    script = [f"The object moved while they were away. <answer>{g}</answer>" for g in gold[:-1]]
    script.append(f"<answer>{wrong}</answer>")
    (tmp_path / "teacher.txt").write_text("\n".join(script) + "\n")
    store, out = tmp_path / "runs.duckdb", tmp_path / "student"
    code = main(
        [
            "train", "distill", "--mode", "forward", "--teacher", f"scripted:{tmp_path / 'teacher.txt'}",
            "--env", "soul/hitom-v0", "--episodes", str(len(gold)), "--concurrency", "1",
            "--store", str(store), "--output-dir", str(out), "--max-steps", "40", "--learning-rate", "3e-3",
            "--per-device-train-batch-size", "4", "--save-steps", "1000", "--no-progress",
            "--eval", "soul/hitom-v0", "--eval-episodes", str(len(gold) - 1),
        ]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    teacher = summary["teacher"]
    assert teacher["episodes"] == len(gold) and teacher["kept"] == len(gold) - 1

    with ReplayStore(store, read_only=True) as s:
        scores = s.scores(run_id=teacher["run_id"])
        assert sorted(scores["score"].tolist()) == [0.0] + [1.0] * (len(gold) - 1)  # every rollout is stored
        kept = to_dataset(s, "sft", run_id=teacher["run_id"], min_score=1.0)
    assert len(kept) == len(gold) - 1 and set(kept["score"]) == {1.0}
    assert all(
        m["messages"][-1]["content"].endswith(tuple(f"<answer>{g}</answer>" for g in gold)) for m in kept
    )
    assert summary["data"]["rows_by_source"] == {"soul/hitom-v0": len(gold) - 1}
    assert summary["last_loss"] < summary["first_loss"]

    # --eval cycles through the fixture rows: its first len(gold) - 1 episodes are the rows the teacher
    # got right, so its mean score is the student's accuracy on them after training
    rows = osim_env.make_raw("soul/hitom-v0").candidate_scenarios()[:-1]
    before = accuracy(f"hf:{tiny_model_dir}", rows, tmp_path / "eval.duckdb")
    [evaluation] = summary["eval"]
    assert evaluation["env_id"] == "soul/hitom-v0" and evaluation["episodes"] == len(rows)
    with ReplayStore(store, read_only=True) as s:
        evaluated = s.episodes(evaluation["run_id"])
    assert sorted(evaluated["scenario_id"]) == sorted(r.scenario_id for r in rows)
    assert evaluation["mean_score"] > before and evaluation["mean_score"] >= 0.5, (before, evaluation)
