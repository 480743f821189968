"""AlignX feedback (docs/tasks.md#alignx): names the unused preference signal, never the gold."""

from __future__ import annotations

import json

from judges_fakes import FakeJudgeModel

import osim_env
from scenarios.alignx.feedback import default_feedback_writer

ENV_ID = "soul/alignx-v0"
if ENV_ID not in osim_env.registry():
    osim_env.register(ENV_ID, "scenarios.alignx.env:env")


def wrong_draft():
    env = osim_env.make(ENV_ID, scenario=0)  # the chosen reply is shown as B
    env.reset(seed=0)
    env.step("Routines are thorough. <answer>A</answer>")
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["user"]


def reply(feedback: str) -> str:
    return json.dumps(
        {
            "critiques": {"preference_signal": "ignored her dislike of trends"},
            "reflection": "Re-read.",
            "feedback": feedback,
        }
    )


def test_feedback_prompt_carries_the_draft_and_the_preferred_position():
    record, judgment = wrong_draft()
    assert judgment.score == 0.0
    model = FakeJudgeModel([reply("She rolls her eyes at productivity trends and wants low-effort advice.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "low-effort" in result.feedback.critique
    prompt = model.requests[0].messages[-1]["content"]
    assert "Routines are thorough." in prompt and "actually preferred (for you only)\nResponse B" in prompt


def test_feedback_naming_the_letter_or_quoting_a_reply_is_rejected():
    record, judgment = wrong_draft()
    quote = "She would say the phone stays in the kitchen overnight. First thing I see now."
    leaks = [reply("The correct answer is B."), reply(quote)]
    result = default_feedback_writer(FakeJudgeModel(leaks)).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error
    rejected = "Not a fan of a ten-step routine: hydrate, journal, meditate, stretch, plan, and so on."
    result = default_feedback_writer(FakeJudgeModel([reply(rejected), reply(rejected)])).feedback_for(
        record, judgment
    )
    assert result.feedback is None and "repeats 8 words" in result.error
