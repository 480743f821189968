"""BehaviorChain feedback (docs/tasks.md#behaviorchain): what the draft did not weigh, never the gold."""

from __future__ import annotations

import json

from judges_fakes import FakeJudgeModel

import osim_env
from scenarios.behaviorchain.feedback import default_feedback_writer

ENV_ID = "soul/behaviorchain-v0"
if ENV_ID not in osim_env.registry():
    osim_env.register(ENV_ID, "scenarios.behaviorchain.env:env")


def wrong_draft():
    env = osim_env.make(ENV_ID, scenario=0)
    env.reset(seed=0)
    env.step("She trusts her brother. <answer>A</answer>")
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["persona"]


def reply(feedback: str) -> str:
    return json.dumps(
        {
            "critiques": {"persona_consistency": "ignored her distrust"},
            "reflection": "Re-read step 1.",
            "feedback": feedback,
        }
    )


def test_feedback_prompt_carries_the_draft_and_the_gold_and_the_hint_comes_back():
    record, judgment = wrong_draft()
    assert judgment.score == 0.0
    model = FakeJudgeModel([reply("Remember how she handled the harbour master's demand in step 1.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "harbour master" in result.feedback.critique
    prompt = model.requests[0].messages[-1]["content"]
    assert "She trusts her brother." in prompt and "B. She changes the lock that night" in prompt


def test_feedback_naming_the_letter_or_the_gold_behavior_is_rejected():
    record, judgment = wrong_draft()
    leaks = [reply("Choice B fits her."), reply("Surely she changes the lock that night and tells no one.")]
    result = default_feedback_writer(FakeJudgeModel(leaks)).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error
