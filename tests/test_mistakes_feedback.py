"""Mistakes feedback: a critique written from the draft and the target, never revealing the target."""

from __future__ import annotations

import json

from judges_fakes import FakeJudgeModel, policy_error

import osim_env
from scenarios.mistakes.feedback import default_feedback_writer, gold_of


def draft(text: str = "2/3 is 8/12 and 1/4 is 3/12, so 11/12 <answer>B</answer>", scenario: int = 1):
    env = osim_env.make("soul/mistakes-v0", scenario=scenario)
    env.reset(seed=0)
    env.step(text)
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["student"]


def answer(feedback: str, critique: str = "solved it like an expert") -> str:
    return json.dumps(
        {
            "critiques": {"misconception": critique},
            "reflection": "Use the misconception.",
            "feedback": feedback,
        }
    )


def test_feedback_prompt_carries_the_draft_the_misconception_and_the_target():
    record, judgment = draft()
    assert judgment.score == 0.0
    model = FakeJudgeModel(
        [answer("You found a common denominator; this student would combine tops and bottoms directly.")]
    )
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "tops and bottoms" in result.feedback.critique
    assert result.feedback.per_dimension == {"misconception": "solved it like an expert"}
    prompt = model.requests[0].messages[-1]["content"]
    assert "so 11/12" in prompt and "Adds the numerators" in prompt
    assert "A. 3/7\nB. 11/12\nD. 3/12" in prompt and "(for you only)\nA. 3/7" in prompt
    assert "did not pick the student's option; answered B, target A" in prompt
    assert model.requests[0].json_schema is not None


def test_an_invalid_draft_is_shown_raw():
    record, judgment = draft("<answer>C</answer>")
    model = FakeJudgeModel([answer("Think about how this student adds fractions.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None
    assert "letter out of range" in model.requests[0].messages[-1]["content"]
    assert "<answer>C</answer>" in model.requests[0].messages[-1]["content"]


def test_naming_the_target_letter_or_value_is_regenerated_once_then_dropped():
    record, judgment = draft()
    model = FakeJudgeModel([answer("The answer is A."), answer("The student would get 3/7.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error and "3/7" in result.error
    assert len(model.requests) == 2 and "gave the answer away" in model.requests[1].messages[-1]["content"]
    model = FakeJudgeModel([answer("Pick option (a)."), answer("Add tops together and bottoms together.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == "Add tops together and bottoms together."


def test_a_leak_in_a_critique_counts_and_target_answer_is_protected_too():
    record, judgment = draft("<answer>A</answer>", scenario=0)
    assert gold_of(record).letter == "B" and gold_of(record).texts == ("3.4",)
    model = FakeJudgeModel([answer("Fine.", critique="it reaches 3.4"), answer("Fine.", critique="right")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and len(model.requests) == 2
    row = {**record.scenario, "TargetAnswer": "three point four"}
    record = record.model_copy(update={"scenario": row})
    assert gold_of(record).texts == ("3.4", "three point four")
    model = FakeJudgeModel([answer("They would say three point four."), answer("Look at the 6 again.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == "Look at the 6 again."


def test_a_failed_feedback_call_leaves_no_feedback_and_an_error():
    record, judgment = draft()
    model = FakeJudgeModel([policy_error()])
    result = default_feedback_writer(model, backoff_s=0.0).feedback_for(record, judgment)
    assert result.feedback is None and result.error
    assert judgment.score == 0.0  # the draft's score stays valid
