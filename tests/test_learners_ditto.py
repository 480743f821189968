"""``osim train ditto``: a real learning signal on the tiny model, evaluation during training through the
runner, the README command, checkpoints that resume (LoRA), and mistakes reported before anything loads.

The toy task: the Hi-ToM fixture rows with the gold option moved to the front, so the gold is always
"A". The tiny model is first taught the answer format (``osim train sft`` on the env's own prompts with
the letters A-D equally often), so it answers in the tag but picks A only now and then; Ditto's rewards
(the env's rule judge) must then raise the share of A. The feedback writer is Hi-ToM's own, on a
scripted policy (one hint that never names the answer, so the leakage check lets it through).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

import osim_env
from learners.ditto import DittoConfig
from learners.ditto_rollouts import Generator, play
from osim.cli import build_parser, main
from osim.train_cli import config_from_args

HITOM = "soul/hitom-v0"
README = Path(__file__).resolve().parents[1] / "README.md"
HINT = "Check who was still in the room when the object was moved."


def gold_first_rows() -> list[dict]:
    rows = []
    for scenario in osim_env.make_raw(HITOM).candidate_scenarios():
        row = scenario.row.model_dump(mode="json")
        gold = row["correct_answer"]
        choices = [gold, *[c for c in row["choices"] if c != gold]]
        rows.append({k: row[k] for k in ("story", "question", "correct_answer")} | {"choices": choices})
    return rows


def sft_rows(rows: list[dict]) -> list[dict]:
    env = osim_env.make(HITOM, judge=False)
    out = []
    for row in rows:
        for k, letter in enumerate("ABCD"):
            env.reset(seed=k, options={"scenario": row})
            messages = [dict(m) for m in env.observe("answerer")["messages"]]
            answer = {"role": "assistant", "content": f"<answer>{letter}</answer>"}
            out.append({"data_source": "hitom", "messages": [*messages, answer]})
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Path]:
    """The gold-is-A rows, a scripted feedback model and the tiny model taught the answer format."""
    root = tmp_path_factory.mktemp("ditto")
    rows = gold_first_rows()
    assert all(osim_env.make_raw(HITOM, scenario=r).candidate_scenarios()[0].row.gold == "A" for r in rows)
    feedback = {"critiques": {"belief_tracking": "missed an exit"}, "reflection": "Exits.", "feedback": HINT}
    (root / "feedback.txt").write_text(json.dumps(feedback) + "\n")
    sft = write_jsonl(root / "sft.jsonl", sft_rows(rows))
    code = main(
        ["train", "sft", "--data", str(sft), "--model", str(tiny_model_dir),
         "--output-dir", str(root / "sft"), "--max-steps", "12", "--learning-rate", "6e-3",
         "--max-length", "1024", "--save-steps", "1000", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    return {
        "root": root,
        "rows": write_jsonl(root / "rows.jsonl", rows),
        "model": root / "sft",
        "feedback": root / "feedback.txt",
    }


def mean_reward(model_dir: Path, rows_file: Path, samples: int = 16) -> float:
    """The share of sampled answers that are right, on fixed sampling seeds (the same before and after)."""
    from learners.common import load_model

    model, tokenizer = load_model(str(model_dir))
    tokenizer.padding_side = "left"
    generate = Generator(model, tokenizer, max_new_tokens=8)
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    rewards = []
    for i, row in enumerate(rows):
        episodes = play(HITOM, row, list(range(1000, 1000 + samples)), generate, sample_seed=i)
        rewards += [e.reward for e in episodes]
    assert None not in rewards
    return sum(rewards) / len(rewards)


def test_ditto_raises_the_reward_and_evaluates_during_training(capsys, toy, tmp_path):
    before = mean_reward(toy["model"], toy["rows"])
    out_dir, store = tmp_path / "ditto", tmp_path / "runs.duckdb"
    code = main(
        ["train", "ditto", "--env", HITOM, "--task-data", str(toy["rows"]), "--model", str(toy["model"]),
         "--output-dir", str(out_dir), "--max-steps", "8", "--group-size", "4", "--prompts-per-step", "2",
         "--max-completion-length", "8", "--learning-rate", "1e-3", "--max-length", "1024",
         "--feedback-model", f"scripted:{toy['feedback']}", "--save-steps", "1000", "--seed", "0",
         "--eval-every", "4", "--eval", HITOM, "--eval-episodes", "2", "--store", str(store)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    after = mean_reward(out_dir, toy["rows"])
    print(f"mean reward before {before:.3f}, after {after:.3f}")
    assert after >= before + 0.3, (before, after, [h["reward_mean"] for h in summary["history"]])
    assert summary["recipe"] == "ditto" and summary["steps"] == 8 and summary["groups"] == 16
    # gate "all": every draft gets the hint (it never names the answer), one refined rollout each
    assert summary["feedback"] == 8 * 2 * 4 and summary["feedback_failed"] == 0
    assert summary["feedback_writer"]["task"] == "hitom" and summary["error_episodes"] == 0
    assert [e["step"] for e in summary["evals"]] == [4, 8] and (out_dir / "checkpoint-8").is_dir()
    assert all(r["env_id"] == HITOM and r["episodes"] == 2 for e in summary["evals"] for r in e["results"])
    assert summary["eval"][0]["episodes"] == 2  # --eval of the final model, as for the other recipes
    from replays import ReplayStore

    with ReplayStore(store, read_only=True) as replay:
        assert len(replay.runs()) == 3
    assert re.search(r"8/8", captured.err) and re.search(
        r"reward \d\.\d{3}±\d\.\d{3}\s+skipped \d/2", captured.err
    )
    assert json.loads((out_dir / "train_summary.json").read_text())["steps"] == 8


def test_the_readme_ditto_command_parses_into_its_config():
    section = README.read_text(encoding="utf-8").split("## Train\n", 1)[1].split("\n## ", 1)[0]
    lines = [
        line
        for block in re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
        for line in block.splitlines()
        if line.startswith("osim train ditto ")
    ]
    assert len(lines) == 1
    args = build_parser().parse_args(shlex.split(lines[0])[1:])
    config = config_from_args(DittoConfig, args)
    assert config.env == HITOM and config.group_size == 4 and config.max_steps == 20
    assert config.eval_every == 10 and args.eval == [HITOM] and config.feedback_gate == "all"


def test_a_lora_run_checkpoints_and_resumes_as_if_never_stopped(capsys, toy, tmp_path):
    def run(out: str, *extra: str) -> dict:
        argv = [
            "train", "ditto", "--env", HITOM, "--task-data", str(toy["rows"]), "--model", str(toy["model"]),
            "--output-dir", str(tmp_path / out), "--group-size", "4", "--prompts-per-step", "1",
            "--max-completion-length", "8", "--feedback-gate", "below:1", "--feedback-model",
            f"scripted:{toy['feedback']}", "--save-steps", "1", "--lora", "--lora-r", "2",
            "--learning-rate", "1e-2", "--num-iterations", "2", "--no-progress", *extra,
        ]  # fmt: skip
        assert main(argv) == 0
        return json.loads(capsys.readouterr().out)

    first = run("o", "--max-steps", "2")
    assert first["steps"] == 2 and (tmp_path / "o" / "checkpoint-2" / "adapter_config.json").is_file()
    assert first["history"][0]["loss"] != 0.0 and first["history"][0]["groups_skipped"] == 0  # it trained
    second = run("o", "--max-steps", "3", "--resume")
    assert second["resumed_from"].endswith("checkpoint-2") and second["steps"] == 3
    assert len(second["history"]) == 3 and second["history"][:2] == first["history"]
    whole = run("w", "--max-steps", "3")
    assert whole["history"] == second["history"]  # the optimizer and scheduler state resumed too


def test_the_same_seed_gives_the_same_run(capsys, toy, tmp_path):
    def run(name: str) -> dict:
        argv = [
            "train", "ditto", "--env", HITOM, "--task-data", str(toy["rows"]), "--model", str(toy["model"]),
            "--output-dir", str(tmp_path / name), "--group-size", "3", "--prompts-per-step", "2",
            "--max-completion-length", "8", "--feedback-model", f"scripted:{toy['feedback']}",
            "--learning-rate", "1e-3", "--max-steps", "2", "--seed", "3", "--no-progress",
        ]  # fmt: skip
        assert main(argv) == 0
        return json.loads(capsys.readouterr().out)

    first, second = run("a"), run("b")
    strip = ("train_runtime_s", "tokens_per_s")
    assert first["history"] == second["history"] and first["history"][0]["tokens"] > 0
    assert any(h["loss"] != 0.0 for h in first["history"])
    assert {k: v for k, v in first.items() if k not in strip and k != "config" and k != "model"} == {
        k: v for k, v in second.items() if k not in strip and k != "config" and k != "model"
    }
    from safetensors.torch import load_file

    a, b = (load_file(tmp_path / n / "model.safetensors") for n in ("a", "b"))
    assert all(bool((a[k] == b[k]).all()) for k in a)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give --env ENV_ID"),
        (["--env", "soul/hitom-v9"], "unknown env id 'soul/hitom-v9'"),
        (["--env", HITOM, "--feedback-gate", "under:0.5"], "feedback_gate must be 'all' or 'below:<t>'"),
        (["--env", HITOM, "--feedback-gate", "below:x"], "feedback_gate must be 'all' or 'below:<t>'"),
        (["--env", HITOM, "--eval-every", "2"], "--eval-every needs --eval"),
        (["--env", HITOM, "--group-size", "0"], "group_size must be at least 1"),
        (["--env", HITOM, "--env-option", "max_turns"], "KEY=VALUE"),
        (["--env", HITOM, "--env-option", "colour=3"], "soul/hitom-v0: "),
        (["--env", HITOM, "--feedback-model", "bogus:x"], "--feedback-model"),
        (["--env", "soul/userllm-v0", "--feedback-model", "tiny"], "rule-based"),
        (["--env", HITOM, "--task-data", "nowhere.jsonl"], "no such file"),
        (["--env", HITOM, "--model", "no/such/dir"], "--model"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(capsys, argv, message):
    code = main(["train", "ditto", *argv])
    out = capsys.readouterr()
    assert code == 2 and out.out == ""
    assert out.err.startswith("osim: error: ") and message in out.err and out.err.count("\n") == 1, out.err
