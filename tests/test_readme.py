"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_step_loop_example_runs_and_is_short():
    loop = python_blocks()[0]
    assert "env.step" in loop and len(loop.strip().splitlines()) <= 25
    out = subprocess.run(
        [sys.executable, "-c", loop], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert re.search(r"message +agent2", out.stdout) and "max_turns (20) reached" in out.stdout


def test_hitom_example_prints_the_reward():
    block = python_blocks()[1]  # as pasted: its own imports
    out = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'answerer': 1.0}"


def test_readme_commands_match_ci():
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = (
        'pip install -e ".[dev]" && bash scripts/install_vllm.sh && bash scripts/install_browser.sh'
        " && bash scripts/install_tau.sh && HF_HUB_OFFLINE=1 python -m pytest"
    )
    assert test_command in README.read_text()
    assert test_command in ci


def text_blocks() -> list[str]:
    return re.findall(r"```text\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_every_name_the_readme_imports_exists():
    imports = [
        line.strip()
        for block in text_blocks() + python_blocks()
        for line in block.splitlines()
        if re.match(r"\s*(from \S+ import |import )", line)
    ]
    assert len(imports) >= 5
    out = subprocess.run(
        [sys.executable, "-c", "\n".join(imports)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr


def test_every_osim_command_in_the_readme_parses():
    """Each ``osim ...`` line of the README's shell blocks is accepted by the CLI's parser."""
    import shlex

    from osim.cli import build_parser

    shell = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    lines = [
        line.split("#")[0].split("&&")[-1].strip()
        for block in shell
        for line in re.sub(r"\\\n\s*", " ", block).splitlines()  # a trailing backslash continues a line
    ]
    commands = [line for line in lines if re.match(r"(pip .*&& )?osim ", line)]
    assert len(commands) >= 6
    for command in commands:
        args = shlex.split(command.replace("EPISODE_ID", "abc123"))[1:]
        parsed = build_parser().parse_args(args)
        assert callable(parsed.func), command


def test_sweep_and_store_example_runs(tmp_path):
    [block] = [b for b in python_blocks() if "run_sweep" in b]
    script = (
        block.replace("episodes=8", "episodes=2, progress=False") + "\nprint(type(ds).__name__, len(df))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "runs.duckdb").exists()
    assert "soul/hitom-v0" in out.stdout  # the run's summary
    kind, n_messages = out.stdout.strip().splitlines()[-1].split()
    assert kind == "Dataset" and int(n_messages) >= 0
