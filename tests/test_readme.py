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
    assert "message agent2" in out.stdout and "max_turns (20) reached" in out.stdout


def test_hitom_example_prints_the_reward():
    block = "import osim_env\n" + python_blocks()[1]
    out = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'answerer': 1.0}"


def test_readme_commands_match_ci():
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = (
        'pip install -e ".[dev]" && bash scripts/install_vllm.sh && HF_HUB_OFFLINE=1 python -m pytest'
    )
    assert test_command in README.read_text()
    assert test_command in ci
