"""``$OSIM_*`` defaults are read by the application (osim/defaults.py), never by envs or tasks."""

from __future__ import annotations

import osim_env
from osim.defaults import option_defaults, with_app_defaults
from osim.runner import EpisodeJob


def test_envs_ignore_the_environment(monkeypatch):
    monkeypatch.setenv("OSIM_PARTNER_MODEL", "scripted:/nowhere.txt")
    monkeypatch.setenv("OSIM_JUDGE_MODEL", "openai:some-model")
    env = osim_env.make_raw("soul/sotopia-v0", scenario=0)
    env.reset(seed=0)
    assert env.default_policies() == {"agent2": "tiny"}
    assert env.options["judge_model"] is None


def test_the_app_fills_unset_options_the_env_has(monkeypatch):
    monkeypatch.setenv("OSIM_PARTNER_MODEL", "tiny?max_new_tokens=8")
    monkeypatch.setenv("OSIM_JUDGE_MODEL", "openai:judge")
    filled = option_defaults("soul/sotopia-v0", {"max_turns": 4})
    assert filled == {"max_turns": 4, "partner_model": "tiny?max_new_tokens=8", "judge_model": "openai:judge"}
    # An option the caller set wins; an env without the option gets nothing.
    assert option_defaults("soul/sotopia-v0", {"judge_model": "tiny"})["judge_model"] == "tiny"
    assert option_defaults("soul/hitom-v0", {}) == {}
    job = with_app_defaults(EpisodeJob("soul/sotopia-v0", seed=1))
    assert job.options["partner_model"] == "tiny?max_new_tokens=8"


def test_without_variables_jobs_are_unchanged(monkeypatch):
    monkeypatch.delenv("OSIM_PARTNER_MODEL", raising=False)
    monkeypatch.delenv("OSIM_JUDGE_MODEL", raising=False)
    job = EpisodeJob("soul/sotopia-v0", seed=1, options={"max_turns": 2})
    assert with_app_defaults(job) is job
