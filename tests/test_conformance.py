"""Every registered env passes PettingZoo's suites and osim's stricter text checks."""

from __future__ import annotations

import os
from typing import Any

import pytest

import osim_env
from judges.judgment import Judgment, SyncJudge
from osim_env.episode import EpisodeRecord
from osim_env.test import run_all

FUZZ_EXAMPLES = int(os.environ.get("OSIM_FUZZ_EXAMPLES", "2000"))


class ValidTurnShareJudge(SyncJudge):
    """A deterministic rule judge for tests: the share of an agent's actions that were valid."""

    spec: dict[str, Any] = {"kind": "rule", "name": "valid_turn_share"}

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        out = {}
        for agent in episode.agents:
            acted = [e for e in episode.events if e.source == agent and "raw" in e.payload]
            valid = [e for e in acted if e.kind != "invalid_action"]
            score = len(valid) / len(acted) if acted else 0.0
            out[agent] = Judgment(agent=agent, score=score, dims={"valid_turns": len(valid)}, judge=self.spec)
        return out


TEST_KWARGS: dict[str, dict[str, Any]] = {"soul/sotopia-v0": {"judge": ValidTurnShareJudge()}}


def env_fn_for(env_id: str):
    def env_fn(**kwargs: Any):
        return osim_env.make(env_id, **{**TEST_KWARGS.get(env_id, {}), **kwargs})

    return env_fn


def test_registry_lists_the_tasks():
    ids = osim_env.registry()
    assert "soul/sotopia-v0" in ids and "soul/hitom-v0" in ids
    assert ids == sorted(ids)


@pytest.mark.parametrize("env_id", osim_env.registry())
def test_env_passes_conformance_suite(env_id):
    ran = run_all(env_fn_for(env_id), fuzz_examples=FUZZ_EXAMPLES)
    assert "pettingzoo.api_test" in ran and "fuzz_actions_test" in ran
    if env_id == "soul/sotopia-v0":
        assert "pettingzoo.max_cycles_test" in ran


@pytest.mark.parametrize("env_id", osim_env.registry())
def test_env_module_exports_three_constructors(env_id):
    module = osim_env.spec(env_id).module
    for name in ("env", "raw_env", "parallel_env"):
        assert callable(getattr(module, name)), f"{env_id} module lacks {name}"
    assert module.raw_env().env_id == env_id
