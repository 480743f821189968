from __future__ import annotations

import json
import warnings

import pytest
from gymnasium.utils.env_checker import check_env
from testing_judges import ValidTurnShareJudge

import osim_env
from osim_env import AutoPlay, SingleRole


def partner(observation):
    """A deterministic partner: counts the lines it has seen."""
    return json.dumps(
        {"action_type": "speak", "argument": f"I have read {len(observation['messages'])} messages"}
    )


def test_autoplay_loop_meets_only_the_callers_roles():
    env = AutoPlay(
        osim_env.make("soul/sotopia-v0", scenario=0, judge=ValidTurnShareJudge(), max_turns=6),
        policies={"agent2": partner},
    )
    env.reset(seed=0)
    met = []
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, info = env.last()
        met.append(agent)
        env.step(None if terminated or truncated else json.dumps({"action_type": "speak", "argument": "hi"}))
    assert set(met) == {"agent1"}
    raw = env.unwrapped
    assert [e.source for e in raw.log if e.kind == "message"] == ["agent1", "agent2"] * 3
    assert raw.status == "ok" and raw.termination == "max_turns (6) reached"


def test_a_failing_auxiliary_policy_fails_the_episode_without_inserting_text():
    def broken(observation):
        raise TimeoutError("partner model timed out after 3 retries")

    env = AutoPlay(
        osim_env.make("soul/sotopia-v0", scenario=0, judge=ValidTurnShareJudge()), policies={"agent2": broken}
    )
    env.reset(seed=0)
    env.step(json.dumps({"action_type": "speak", "argument": "hello?"}))
    raw = env.unwrapped
    assert raw.status == "failed" and "timed out" in raw.termination
    assert [e.kind for e in raw.log] == ["message", "end"]
    assert raw.judgments == {}
    assert raw.episode_record().status == "failed"


def test_unknown_roles_are_rejected():
    with pytest.raises(ValueError, match="unknown roles"):
        AutoPlay(osim_env.make("soul/sotopia-v0", scenario=0), policies={"narrator": partner})
    with pytest.raises(ValueError, match="no policy"):
        SingleRole(osim_env.make("soul/sotopia-v0", scenario=0), "agent1", others={})


def test_single_role_is_a_gymnasium_env_that_passes_check_env():
    env = SingleRole(
        osim_env.make("soul/sotopia-v0", scenario=0, judge=ValidTurnShareJudge(), max_turns=6),
        "agent1",
        others={"agent2": partner},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=False)
    obs, info = env.reset(seed=3)
    assert obs["agent"] == "agent1" and info["episode_id"]
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(
            json.dumps({"action_type": "speak", "argument": "ok"})
        )
        total += reward
        steps += 1
        done = terminated or truncated
    assert steps == 3 and truncated and total == 1.0


def test_single_role_on_a_single_agent_task():
    env = SingleRole(osim_env.make("soul/hitom-v0", scenario=0), "answerer", others={})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    env.reset(seed=0)
    _, reward, terminated, truncated, _ = env.step("<answer>A</answer>")
    assert (reward, terminated, truncated) == (1.0, True, False)
