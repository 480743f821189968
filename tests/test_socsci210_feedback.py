"""SocSci210 feedback: the cue the draft under-weighted, never the value, a scale point or a direction."""

from __future__ import annotations

import json

import pytest
from judges_fakes import FakeJudgeModel, policy_error

import osim_env
from scenarios.socsci210.feedback import default_feedback_writer, gold_of, scale_leak

ENV_ID = "soul/socsci210-v0"
if ENV_ID not in osim_env.registry():  # until pyproject.toml declares the entry point
    osim_env.register(ENV_ID, "scenarios.socsci210.env:env")


def draft(text: str = "Independent-minded, likes the change <answer>6</answer>", scenario: int = 0):
    env = osim_env.make(ENV_ID, scenario=scenario)
    env.reset(seed=0)
    env.step(text)
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["respondent"]


def answer(feedback: str, cue: str = "the strong party identity") -> str:
    return json.dumps({"critiques": {"cue": cue}, "reflection": "Weigh identity.", "feedback": feedback})


def test_feedback_prompt_carries_the_task_the_draft_and_the_gold_for_the_writer_only():
    record, judgment = draft()
    assert judgment.score == pytest.approx(0.5)
    model = FakeJudgeModel(
        [answer("The draft overlooked how his strong party identity shapes views on cuts.")]
    )
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "party identity" in result.feedback.critique
    assert result.feedback.per_dimension == {"cue": "the strong party identity"}
    prompt = model.requests[0].messages[-1]["content"]
    assert "Think step by step, and answer the number." in prompt and "likes the change" in prompt
    assert "(for you only)\n3 (scale 1..7, ordinal)" in prompt and "answered 6, gold 3" in prompt


@pytest.mark.parametrize(
    "leaky",
    [
        "He would answer 3.",  # the gold value
        "Somewhere around 5 fits him.",  # any point of the scale
        "His answer should be lower than yours.",  # a direction
        "Expect more opposition from a strong Republican.",
        "Move it toward the bottom of the scale.",
    ],
)
def test_a_leak_is_regenerated_once_then_dropped(leaky):
    record, judgment = draft()
    model = FakeJudgeModel([answer(leaky), answer(leaky)])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error
    assert len(model.requests) == 2 and "gave the answer away" in model.requests[1].messages[-1]["content"]
    model = FakeJudgeModel([answer(leaky), answer("Weigh his retirement and small-town routine.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == "Weigh his retirement and small-town routine."


def test_a_leak_in_a_critique_counts_too():
    record, judgment = draft()
    model = FakeJudgeModel([answer("Fine.", cue="he picks 3"), answer("Fine.", cue="his age")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and len(model.requests) == 2


def test_scale_leak_rules():
    ordinal = osim_env.make_raw(ENV_ID).candidate_scenarios()[0].row
    assert scale_leak("A 62-year-old on $25,000-$34,999 weighs costs.", ordinal) is None
    assert scale_leak("Two hours later matters to him.", ordinal) is None
    assert scale_leak("Think of 4.", ordinal) == "names a point of the scale: '4'"
    assert scale_leak("He distrusts changes to public services.", ordinal) is None
    assert "direction" in scale_leak("He is far less supportive.", ordinal)
    assert "direction" in scale_leak("Go higher.", ordinal)
    binary = osim_env.make_raw(ENV_ID).candidate_scenarios()[1].row
    assert "yes/no" in scale_leak("She would say yes.", binary)
    assert scale_leak("No single cue decides; her job in health care does.", binary) is None


def test_gold_of_protects_the_value():
    record, _ = draft()
    assert gold_of(record).texts == ("3",) and gold_of(record).letter is None


def test_an_invalid_draft_is_shown_raw_and_a_failed_call_leaves_an_error():
    record, judgment = draft("<answer>9</answer>")
    model = FakeJudgeModel([answer("Consider the Sunday closure for a retiree.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "<answer>9</answer>" in model.requests[0].messages[-1]["content"]
    assert "out of range" in model.requests[0].messages[-1]["content"]
    model = FakeJudgeModel([policy_error()])
    result = default_feedback_writer(model, backoff_s=0.0).feedback_for(record, judgment)
    assert result.feedback is None and result.error and judgment.score == 0.0
