"""Every registered env passes PettingZoo's suites and osim's stricter text checks."""

from __future__ import annotations

import os
from typing import Any

import pytest
from testing_judges import ValidTurnShareJudge

import osim_env
from osim_env.test import run_all

FUZZ_EXAMPLES = int(os.environ.get("OSIM_FUZZ_EXAMPLES", "2000"))


# LLM-judged tasks get a rule judge here: conformance checks the env, not a judge model.
LLM_JUDGED = (
    "soul/coser-v0",
    "soul/mirrorbench-v0",
    "soul/sotopia-v0",
    "soul/userllm-v0",
    "soul/simarena-math-v0",
    "soul/simarena-doc-v0",
    *(f"soul/humanual-{domain}-v0" for domain in ("book", "chat", "email", "news", "opinion", "politics")),
)
TEST_KWARGS: dict[str, dict[str, Any]] = {env_id: {"judge": ValidTurnShareJudge()} for env_id in LLM_JUDGED}


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
    # A module registering several ids names each one's constructors with its prefix (math_raw_env).
    spec = osim_env.spec(env_id)
    for name in ("env", "raw_env", "parallel_env"):
        assert callable(spec.sibling(name)), f"{env_id} module lacks the {name} constructor"
    assert spec.sibling("raw_env")().env_id == env_id
