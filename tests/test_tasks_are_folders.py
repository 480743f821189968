"""A task is a folder: every ``scenarios/<task>/`` has the standard shape and registers itself through
the ``osim.envs`` entry-point group, the way a third-party package would (docs/new-task.md)."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import tomllib

import osim_env
from osim_env.env import TextEnv

ROOT = Path(__file__).resolve().parents[1]
TASKS = sorted(p.name for p in (ROOT / "scenarios").iterdir() if (p / "env.py").exists())
FILES = ("__init__.py", "schema.py", "env.py", "prompts.py", "judge.py", "feedback.py", "data/fixture.jsonl")


def declared_entry_points() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["entry-points"]["osim.envs"]


def test_there_are_tasks():
    assert TASKS, "no scenarios/<task>/env.py found"


@pytest.mark.parametrize("task", TASKS)
def test_task_folder_has_the_standard_shape(task):
    missing = [name for name in FILES if not (ROOT / "scenarios" / task / name).exists()]
    assert not missing, f"scenarios/{task} lacks {missing}"
    assert callable(importlib.import_module(f"scenarios.{task}").load)


@pytest.mark.parametrize("task", TASKS)
def test_task_registers_through_its_entry_point(task):
    declared = {env_id: value for env_id, value in declared_entry_points().items() if f".{task}." in value}
    assert declared, f"pyproject.toml has no osim.envs entry point for scenarios/{task}"
    installed = {ep.name: ep.value for ep in entry_points(group="osim.envs")}
    for env_id, value in declared.items():
        assert installed.get(env_id) == value, f"{env_id} is not installed; run pip install -e ."
        assert env_id in osim_env.registry()
        env = osim_env.make_raw(env_id)
        assert isinstance(env, TextEnv) and env.env_id == env_id
        assert env.task_package == f"scenarios.{task}"


def test_base_class_fills_in_task_boilerplate():
    env = osim_env.make_raw("soul/hitom-v0")
    assert env.metadata["name"] == "hitom_v0"
    assert env.metadata["render_modes"] == ["ansi", "human"]
    assert env.data_source == "hitom"
    with pytest.raises(RuntimeError, match="reset"):
        _ = env.row
    env.reset(seed=0)
    assert env.row is env.scenario.row
