"""Hi-ToM feedback: written from the draft and the gold, never revealing the gold."""

from __future__ import annotations

import json

from judges_fakes import FakeJudgeModel

import osim_env
from scenarios.hitom.feedback import default_feedback_writer


def wrong_draft():
    env = osim_env.make("soul/hitom-v0", scenario=0)
    env.reset(seed=0)
    env.step("Tobi saw the move, so <answer>B</answer>")
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["answerer"]


def answer(feedback: str) -> str:
    return json.dumps(
        {
            "critiques": {"belief_tracking": "missed an exit"},
            "reflection": "Check exits.",
            "feedback": feedback,
        }
    )


def test_feedback_names_the_step_and_the_prompt_carries_the_draft_and_gold():
    record, judgment = wrong_draft()
    assert judgment.score == 0.0
    model = FakeJudgeModel([answer("Check who was still in the attic when the lantern was moved.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "attic" in result.feedback.critique
    prompt = model.requests[0].messages[-1]["content"]
    assert "Tobi saw the move" in prompt and "A. oak_chest" in prompt
    assert model.requests[0].json_schema is not None


def test_leaking_feedback_is_regenerated_once_then_dropped():
    record, judgment = wrong_draft()
    model = FakeJudgeModel([answer("The answer is A."), answer("It is in the oak_chest.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error
    assert len(model.requests) == 2
    model = FakeJudgeModel([answer("Option (a) is right."), answer("Think about when Ines left.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == "Think about when Ines left."
