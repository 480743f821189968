"""The README's "Train" commands parse into their recipe configs, and the first one trains as written."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

from learners.sft import SFTRecipeConfig
from osim.cli import build_parser, main
from osim.train_cli import DISTILL_MODES, config_from_args

README = Path(__file__).resolve().parents[1] / "README.md"


def train_commands() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Train\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.startswith("osim train ")]


def test_every_train_command_parses_into_its_recipe_config():
    commands = train_commands()
    assert len(commands) >= 5
    kinds = set()
    for line in commands:
        args = build_parser().parse_args(shlex.split(line)[1:])
        cls = SFTRecipeConfig if args.train_command == "sft" else DISTILL_MODES[args.mode]
        others = (
            [c for c in DISTILL_MODES.values() if c is not cls] if args.train_command == "distill" else []
        )
        config = config_from_args(cls, args, exclusive=others)
        kinds.add(type(config).__name__)
        assert config.max_steps != 0
    assert kinds == {"SFTRecipeConfig", "ForwardDistillConfig", "OnPolicyDistillConfig"}


def test_the_first_train_command_runs_as_written(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.chdir(tmp_path)
    row = {
        "data_source": "lmsys",
        "messages": [
            {"role": "user", "content": "can you fix my bike? thanks!"},
            {"role": "assistant", "content": "Sure. What is wrong with it?"},
            {"role": "user", "content": "flat tyre. thanks!"},
        ],
    }
    Path("chats.jsonl").write_text(json.dumps(row) + "\n")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*shlex.split(train_commands()[0])[1:], "--no-progress"]) == 0
    summary = json.loads(stdout.getvalue())
    assert summary["steps"] == 20 and summary["data"]["rows_by_source"]["lmsys"] >= 1
    assert Path("osim_runs/usersim/train_summary.json").is_file()
    assert Path("osim_runs/usersim/model.safetensors").is_file()
