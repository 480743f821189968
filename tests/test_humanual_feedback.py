"""HUMANUAL feedback and refined rollouts: the feedback names the biggest gap without the real reply's
words, the refined rollout never sees the real reply, and it is scored by the same judge as the draft."""

from __future__ import annotations

import json
import re

import pytest
from judges_fakes import FakeJudgeModel
from test_humanual import BOOK, POLITICS, alignment

import osim_env
from judges.feedback import find_leak
from osim_env.env import FEEDBACK_HEADING
from scenarios.humanual.feedback import default_feedback_writer, feedback_prompt, gold_of
from scenarios.humanual.judge import default_judge

FAST = {"backoff_s": 0.0}
GOOD = (
    "You sound calm and general; this owner argues from his own shop and is openly sceptical of the savings."
)


def answer(feedback: str) -> str:
    return json.dumps(
        {"critiques": {"biggest_gap": "stance"}, "reflection": "Too agreeable.", "feedback": feedback}
    )


def draft(
    env_id: str = "soul/humanual-politics-v0", text: str = "<response>Sounds like a good plan.</response>"
):
    judge_model = FakeJudgeModel([alignment([0.2, 0.0], 0.1)])
    env = osim_env.make(env_id, judge=default_judge(judge_model, **FAST))
    env.reset(seed=3)
    env.step(text)
    return env, judge_model


def eight_grams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 8]) for i in range(len(words) - 7)}


def test_feedback_prompt_has_the_draft_the_judge_reasoning_and_the_real_reply_for_the_writer_only():
    env, _ = draft()
    raw = env.unwrapped
    prompt = feedback_prompt(raw.episode_record(), raw.judgments["user"])[-1]["content"]
    assert "## The draft reply (score 0.00)\nSounds like a good plan." in prompt
    assert "- key_point_1: point 0: why 0" in prompt and "- P: extra claims" in prompt
    assert f"(for you only; never quote or paraphrase it)\n{POLITICS['completion']}" in prompt
    assert "HUMAN (you)" not in prompt and "Post author: Most districts" in prompt


def test_the_writer_returns_the_feedback_when_it_does_not_leak():
    env, _ = draft()
    raw = env.unwrapped
    result = default_feedback_writer(FakeJudgeModel([answer(GOOD)]), **FAST).feedback_for(
        raw.episode_record(), raw.judgments["user"]
    )
    assert result.error is None and result.feedback.critique == GOOD
    assert result.feedback.per_dimension == {"biggest_gap": "stance"}


def test_feedback_repeating_8_words_of_the_real_reply_is_regenerated_once_then_dropped():
    env, _ = draft()
    raw = env.unwrapped
    leaky = "Say that optional programs cost money too, and in our town it closed."
    record, judgment = raw.episode_record(), raw.judgments["user"]
    assert "repeats 8 words" in str(find_leak(leaky, gold_of(record)))
    model = FakeJudgeModel([answer(leaky), answer(GOOD)])
    result = default_feedback_writer(model, **FAST).feedback_for(record, judgment)
    assert result.feedback.critique == GOOD and len(model.requests) == 2
    assert "gave the answer away" in model.requests[1].messages[-1]["content"]
    result = default_feedback_writer(FakeJudgeModel([answer(leaky)]), **FAST).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold after one regeneration" in str(result.error)


def test_a_short_real_reply_is_caught_whole_even_without_an_8_gram():
    env = osim_env.make(
        "soul/humanual-book-v0", scenario={**BOOK, "completion": "Three stars, no more."}, judge=False
    )
    env.reset(seed=0)
    env.step("<response>ok</response>")
    gold = gold_of(env.unwrapped.episode_record())
    assert find_leak("Just write: three stars, no more.", gold) is not None
    assert find_leak("Be terse and give a low rating.", gold) is None


def test_the_refined_observation_has_neither_the_real_reply_nor_any_8_gram_of_it():
    env, _ = draft()
    raw = env.unwrapped
    before = raw.messages_for("user")
    raw.reset(seed=raw.component_seed("refined"), options={"feedback": GOOD})
    refined = env.observe("user")["messages"]
    assert refined[0]["content"].endswith(f"## {FEEDBACK_HEADING}\n{GOOD}") and refined[1:] == before[1:2]
    assert raw.messages_for("user", with_feedback=False) == before[:2]
    text = "\n".join(m["content"] for m in refined)
    assert POLITICS["completion"] not in text
    assert not eight_grams(text) & eight_grams(POLITICS["completion"])


def test_draft_and_refined_rollouts_are_scored_by_the_same_judge_configuration():
    """The original scored refined rollouts with another prompt, model and scale; here: one judge."""
    model = FakeJudgeModel([alignment([0.6], 0.1)])
    judge = default_judge(model, **FAST)
    env = osim_env.make("soul/humanual-news-v0", judge=judge)
    reply = "<response>Park there yourself for a week first.</response>"
    env.reset(seed=0)
    env.step(reply)
    draft_judgment = env.unwrapped.judgments["user"]
    raw = env.unwrapped
    raw.reset(seed=raw.component_seed("refined"), options={"feedback": "Be more irritated, you work nights."})
    env.step(reply)
    refined_judgment = env.unwrapped.judgments["user"]
    assert draft_judgment.judge == refined_judgment.judge
    assert draft_judgment.score == refined_judgment.score == pytest.approx(0.5)
    draft_request, refined_request = model.requests
    assert draft_request.messages == refined_request.messages  # the feedback never reaches the judge
    assert draft_request.json_schema == refined_request.json_schema
    # A fresh env's default judge has the same spec as the one the draft was judged by.
    fresh = osim_env.make_raw("soul/humanual-news-v0", judge_model=model).default_judge()
    assert fresh.spec == draft_judgment.judge
