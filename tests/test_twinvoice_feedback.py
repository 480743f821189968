"""TwinVoice feedback: one sentence about the person, never the letter, never quoting a reply."""

from __future__ import annotations

import json

from judges_fakes import FakeJudgeModel, policy_error

import osim_env
from scenarios.twinvoice.feedback import default_feedback_writer, gold_of


def wrong_draft():
    env = osim_env.make("soul/twinvoice-v0", scenario=0)
    env.reset(seed=0)
    env.step("<reasoning>sounds friendly and upbeat</reasoning><answer>A</answer>")
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["persona"]


def answer(feedback: str, critique: str = "missed the lower-case shorthand") -> str:
    return json.dumps(
        {"critiques": {"persona_style": critique}, "reflection": "Match the register.", "feedback": feedback}
    )


def test_feedback_prompt_carries_history_draft_and_gold():
    record, judgment = wrong_draft()
    assert judgment.score == 0.0
    model = FakeJudgeModel(
        [answer("This person writes terse lower-case fragments with slang, not polished prose.")]
    )
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "lower-case fragments" in result.feedback.critique
    prompt = model.requests[0].messages[-1]["content"]
    assert "- ok who moved my bike lock AGAIN" in prompt and "sounds friendly and upbeat" in prompt
    assert "(for you only)\nB. went sat." in prompt and "wrong; answered A, gold B" in prompt
    assert model.requests[0].json_schema is not None


def test_the_gold_letter_is_a_leak_and_regenerated_once():
    record, judgment = wrong_draft()
    model = FakeJudgeModel([answer("The answer is B."), answer("They write in short lower-case bursts.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == "They write in short lower-case bursts."
    assert len(model.requests) == 2


def test_quoting_any_reply_is_a_leak():
    record, judgment = wrong_draft()
    gold = gold_of(record)
    assert gold.letter == "B" and len(gold.texts) == 4 and gold.span == 6
    # quoting a wrong reply (six words of it in a row), then the whole gold reply: dropped
    model = FakeJudgeModel(
        [
            answer("Not 'it offers a vibrant and diverse culinary' talk."),
            answer("Fine.", critique="they would say went sat. dumplings good, queue insane, go early lol"),
        ]
    )
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error
    assert "repeats 6 words" in model.requests[1].messages[-1]["content"]
    # a few shared words are no quote
    model = FakeJudgeModel([answer("They sound casual; they would go early and joke about the queue.")])
    assert default_feedback_writer(model).feedback_for(record, judgment).error is None


def test_a_failed_feedback_call_leaves_no_feedback_and_an_error():
    record, judgment = wrong_draft()
    result = default_feedback_writer(FakeJudgeModel([policy_error()]), backoff_s=0.0).feedback_for(
        record, judgment
    )
    assert result.feedback is None and result.error and judgment.score == 0.0
