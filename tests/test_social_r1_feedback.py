"""Social-R1 feedback (docs/tasks.md#social-r1): names the missed cue, never the gold."""

from __future__ import annotations

import json

from judges_fakes import FakeJudgeModel

import osim_env
from scenarios.social_r1.feedback import default_feedback_writer

ENV_ID = "soul/social-r1-v0"
if ENV_ID not in osim_env.registry():
    osim_env.register(ENV_ID, "scenarios.social_r1.env:env")


def wrong_draft():
    env = osim_env.make(ENV_ID, scenario=0)
    env.reset(seed=0)
    env.step("Ferns like sun, so <answer>B</answer>")
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["answerer"]


def reply(feedback: str) -> str:
    return json.dumps(
        {
            "critiques": {"social_inference": "missed the cover-up"},
            "reflection": "Why move them?",
            "feedback": feedback,
        }
    )


def test_feedback_prompt_carries_draft_and_gold_and_the_hint_comes_back():
    record, judgment = wrong_draft()
    assert judgment.score == 0.0
    model = FakeJudgeModel([reply("Ask why Noor moved the drooping plants just before Elif came home.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "drooping" in result.feedback.critique
    prompt = model.requests[0].messages[-1]["content"]
    assert "Ferns like sun" in prompt and "A. She wanted to hide that she had neglected them." in prompt


def test_feedback_that_names_the_letter_or_repeats_the_gold_option_is_rejected():
    # The original's "reference response" ended with <answer>A</answer>: it would fail this check.
    record, judgment = wrong_draft()
    leaks = [reply("The answer is A."), reply("Noor wanted to hide that she had neglected them, clearly.")]
    result = default_feedback_writer(FakeJudgeModel(leaks)).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error
    leaks = [
        reply("So the reference answer is <answer>A</answer>, option (a)."),
        reply("Think about the shade."),
    ]
    result = default_feedback_writer(FakeJudgeModel(leaks)).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == "Think about the shade."
