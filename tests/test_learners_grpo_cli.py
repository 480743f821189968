"""``osim train grpo``: mistakes are one line (exit 2) before any model loads; the README's GRPO commands
parse into the recipe config, and the first runs as written, with its evaluation curve in the store."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from learners.grpo import GRPORecipeConfig
from osim.cli import build_parser, main
from osim.train_cli import config_from_args
from replays import ReplayStore

README = Path(__file__).resolve().parents[1] / "README.md"


def grpo_commands() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Train\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.startswith("osim train grpo ")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "tiny"], "give --env ENV_ID"),
        (["--env", "soul/hitom-v1"], "unknown env id 'soul/hitom-v1'"),
        (["--env", "soul/hitom-v0", "--eval-every", "2"], "--eval-every needs --eval ENV_ID"),
        (["--env", "soul/hitom-v0", "--num-generations", "3"], "multiple of --num-generations"),
        (["--env", "soul/hitom-v0", "--mode", "both"], "--mode must be auto, single or multi"),
        (["--env", "soul/sotopia-v0", "--option", "max_turn=4"], "unknown options ['max_turn']"),
        (["--env", "soul/sotopia-v0", "--option", "max_turns"], "option must look like KEY=VALUE"),
        (["--env", "soul/sotopia-v0", "--partner", "agent2=nope:x"], "--partner agent2"),
        (["--env", "soul/hitom-v0", "--task-data", "missing.jsonl"], "no such file 'missing.jsonl'"),
        (["--env", "soul/hitom-v0", "--role", "asker"], "has no role 'asker'"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "grpo", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("osim: error: ") and message in err[0], err
    assert not Path("osim_runs").exists()  # nothing trained, nothing stored


def test_the_readme_grpo_commands_parse_into_the_recipe_config():
    commands = grpo_commands()
    assert len(commands) >= 2
    for line in commands:
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert args.train_command == "grpo"
        config = config_from_args(GRPORecipeConfig, args)
        assert config.env.startswith("soul/") and config.max_steps > 0
        assert config.store == args.store


def test_the_first_grpo_command_runs_as_written_and_its_eval_curve_is_in_the_store(
    tmp_path, monkeypatch, tiny_model_dir
):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, "osim_runs/usersim")  # what the README's first SFT command writes
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*shlex.split(grpo_commands()[0])[1:], "--no-progress"]) == 0
    summary = json.loads(stdout.getvalue())
    assert summary["recipe"] == "grpo" and summary["steps"] == 2 and summary["mode"] == "single"
    assert summary["samples"] == 2 * 8 and summary["groups"] == 4
    assert [point["step"] for point in summary["eval_curve"]] == [1, 2]
    with ReplayStore("osim_runs/osim.duckdb", read_only=True) as store:
        for point in summary["eval_curve"]:
            assert store.run_config(point["run_id"])["step"] == point["step"]
            frame = store.summary(point["run_id"])
            assert int(frame["episodes"].iloc[0]) == 2 == point["episodes"]
    assert Path("osim_runs/grpo/model.safetensors").is_file()
    assert json.loads(Path("osim_runs/grpo/train_summary.json").read_text())["eval"][0]["episodes"] == 2
