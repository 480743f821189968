from __future__ import annotations

import pytest

import osim_env
from osim_env import registration


def test_make_builds_wrapped_raw_and_parallel_envs():
    env = osim_env.make("soul/hitom-v0", scenario=0)
    assert env.unwrapped.env_id == "soul/hitom-v0" and env is not env.unwrapped
    raw = osim_env.make_raw("soul/hitom-v0", scenario=0)
    assert raw.unwrapped is raw
    par = osim_env.make_parallel("soul/hitom-v0", scenario=0)
    observations, infos = par.reset(seed=0)
    assert set(observations) == {"answerer"}


def test_unknown_ids_and_versions_get_helpful_errors():
    with pytest.raises(KeyError, match="available versions: \\['soul/sotopia-v0'\\]"):
        osim_env.make("soul/sotopia-v9")
    with pytest.raises(KeyError, match="registered ids"):
        osim_env.make("soul/nothing-v0")


def test_register_validates_ids_and_refuses_silent_overrides():
    with pytest.raises(ValueError, match="namespace/name-vN"):
        osim_env.register("no-version", "scenarios.hitom.env:env")
    with pytest.raises(ValueError, match="already registered"):
        osim_env.register("soul/hitom-v0", "scenarios.sotopia.env:env")
    osim_env.register("soul/hitom-v0", "scenarios.hitom.env:env")  # same entry point: fine


def test_registering_a_new_version_with_default_options():
    osim_env.register("test/sotopia-short-v0", "scenarios.sotopia.env:env", max_turns=4, judge=False)
    try:
        env = osim_env.make("test/sotopia-short-v0", scenario=0)
        assert env.unwrapped.max_turns == 4
        assert env.unwrapped.env_id == "test/sotopia-short-v0"
        env.reset(seed=0)
        assert env.unwrapped.episode_record().env_id == "test/sotopia-short-v0"
        assert "test/sotopia-short-v0" in osim_env.registry()
    finally:
        registration._REGISTRY.pop("test/sotopia-short-v0")


def test_a_scenario_given_at_reset_is_for_that_episode_only():
    """``scenario=None`` draws a row on each reset, also after one reset named a row."""
    env = osim_env.make_raw("soul/sotopia-v0", judge=False)
    drawn = set()
    for seed in range(12):
        env.reset(seed=seed)
        drawn.add(env.scenario.scenario_id)
    assert len(drawn) > 1
    env.reset(seed=0, options={"scenario": 1})
    named = env.scenario.scenario_id
    after = set()
    for seed in range(12):
        env.reset(seed=seed)
        after.add(env.scenario.scenario_id)
    assert named == "sotopia-fx-1" and after == drawn
    fixed = osim_env.make_raw("soul/sotopia-v0", scenario=2, judge=False)
    fixed.reset(seed=0)
    row_2 = fixed.scenario.scenario_id
    fixed.reset(seed=0, options={"scenario": 0})
    assert fixed.scenario.scenario_id != row_2
    fixed.reset(seed=1)
    assert fixed.scenario.scenario_id == row_2


def test_a_scenario_the_env_does_not_play_is_refused_with_a_clear_error():
    """A ready ``Scenario`` is checked like a dict: another task's row is a TypeError, and a row of
    the same package that another id plays (SimulatorArena's two settings, HUMANUAL's domains) is a
    ``RowError``, at construction and at reset alike (before the env's row changes)."""
    hitom_row = osim_env.make_raw("soul/hitom-v0").fixture_rows()[0]
    with pytest.raises(TypeError, match="row is a HiToMRow, not a SotopiaRow"):
        osim_env.make_raw("soul/sotopia-v0", scenario=hitom_row)
    doc_row = osim_env.make_raw("soul/simarena-doc-v0").fixture_rows()[0]
    with pytest.raises(TypeError, match="row is a DocRow, not a MathRow"):
        osim_env.make_raw("soul/simarena-math-v0", scenario=doc_row)
    book_row = osim_env.make_raw("soul/humanual-book-v0").fixture_rows()[0]
    with pytest.raises(osim_env.RowError, match=r"soul/humanual-chat-v0 does not play this row \(humanual-"):
        osim_env.make_raw("soul/humanual-chat-v0", scenario=book_row)
    chat = osim_env.make_raw("soul/humanual-chat-v0", judge=False)
    chat.reset(seed=0)
    before = chat.scenario
    with pytest.raises(osim_env.RowError, match="does not play this row"):
        chat.reset(seed=1, options={"scenario": book_row})
    assert chat.scenario is before
