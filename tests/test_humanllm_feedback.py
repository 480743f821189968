"""HumanLLM feedback: the history pattern the ranking missed, never a letter or a candidate."""

from __future__ import annotations

import json

import pytest
from judges_fakes import FakeJudgeModel, policy_error

import osim_env
from scenarios.humanllm.feedback import candidate_leak, default_feedback_writer, gold_of

ENV_ID = "soul/humanllm-v0"
if ENV_ID not in osim_env.registry():  # until pyproject.toml declares the entry point
    osim_env.register(ENV_ID, "scenarios.humanllm.env:env")


def draft(text: str = "<answer>D,H,K,O,F</answer>", scenario: int = 0):
    env = osim_env.make(ENV_ID, scenario=scenario)
    env.reset(seed=0)
    env.step(text)
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["user"]


def answer(feedback: str, pattern: str = "consumables for long runs") -> str:
    return json.dumps(
        {"critiques": {"pattern": pattern}, "reflection": "Follow the runs.", "feedback": feedback}
    )


def test_feedback_prompt_carries_the_task_the_draft_and_the_gold_for_the_writer_only():
    record, judgment = draft()
    assert judgment.score == 0.0
    model = FakeJudgeModel(
        [answer("The history shows a runner stocking up on consumables, not more hardware.")]
    )
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "consumables" in result.feedback.critique
    assert result.feedback.per_dimension == {"pattern": "consumables for long runs"}
    prompt = model.requests[0].messages[-1]["content"]
    assert "B: energy gels, 12 pack" in prompt and "<answer>D,H,K,O,F</answer>" in prompt
    assert "(for you only)\nenergy gels, 12 pack" in prompt and "gold B not in it" in prompt


@pytest.mark.parametrize(
    "leaky",
    [
        "The answer is B.",  # the gold letter
        "They wanted the energy gels, 12 pack.",  # the gold item
        "Consider the running cap next time.",  # any candidate
        "Put option K higher.",  # any letter
        "Start with (d) instead.",
        "Try B, H first.",
    ],
)
def test_a_leak_is_regenerated_once_then_dropped(leaky):
    record, judgment = draft()
    model = FakeJudgeModel([answer(leaky), answer(leaky)])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error
    assert len(model.requests) == 2 and "gave the answer away" in model.requests[1].messages[-1]["content"]
    model = FakeJudgeModel([answer(leaky), answer("Runners restock consumables before buying more gear.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique.startswith("Runners restock")


def test_candidate_leak_rules_and_gold():
    record, _ = draft()
    row = osim_env.make_raw(ENV_ID).candidate_scenarios()[0].row
    assert candidate_leak("A runner on a budget restocks what a long run uses up.", row) is None
    assert "letter" in candidate_leak("Rank A: first.", row)
    assert "gaiters for trail shoes" in candidate_leak("Gaiters for trail shoes fit the pattern.", row)
    assert gold_of(record).letter == "B" and gold_of(record).texts == ("energy gels, 12 pack",)


def test_a_leak_in_a_critique_counts_and_a_failed_call_leaves_an_error():
    record, judgment = draft()
    model = FakeJudgeModel([answer("Fine.", pattern="the blister plasters"), answer("Fine.", pattern="runs")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and len(model.requests) == 2
    model = FakeJudgeModel([policy_error()])
    result = default_feedback_writer(model, backoff_s=0.0).feedback_for(record, judgment)
    assert result.feedback is None and result.error and judgment.score == 0.0
