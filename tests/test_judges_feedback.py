"""Feedback writing (docs/judges.md#feedback; Sotopia: docs/tasks.md#sotopia): schema, word bounds, gate,
leakage check, regeneration."""

from __future__ import annotations

import json

import pytest
from judges_fakes import GOOD_SCORES, FakeJudgeModel, record_with_turns, sotopia_answer, sotopia_episode

from judges.feedback import FeedbackWriter, Gold, find_leak, gate_allows
from judges.judgment import Judgment
from scenarios.sotopia.feedback import ORDER, default_feedback_writer
from scenarios.sotopia.judge import SotopiaJudge

FAST = {"backoff_s": 0.0}


def _answer(feedback: str, dims=("reasoning",), reflection: str = "It went badly.") -> str:
    return json.dumps(
        {"critiques": {d: f"critique of {d}" for d in dims}, "reflection": reflection, "feedback": feedback}
    )


def test_gate():
    ok = Judgment(agent="a", score=0.4)
    assert gate_allows(ok) and gate_allows(ok, "below:0.5") and not gate_allows(ok, "below:0.4")
    assert not gate_allows(Judgment.failed("a", "judge failed"))
    with pytest.raises(ValueError):
        gate_allows(ok, "sometimes")


def test_leak_check():
    gold = Gold(
        letter="B",
        texts=("Refuse and stay with the crew",),
        reference=("no eggs allergic to them since i was a kid",),
    )
    assert find_leak("The answer is B.", gold)
    assert find_leak("Consider option B again.", gold)
    assert find_leak("pick (b)", gold)
    assert find_leak("She would refuse and stay with the crew.", gold)
    assert find_leak("you said no eggs allergic to them since i was a kid", gold)
    assert find_leak("Plan B failed because the answer is a trap; reread her loyalty.", gold) is None
    assert find_leak("no eggs allergic to them since", gold) is None  # 6 words < 8


def test_sotopia_feedback_from_a_judged_draft():
    episode = sotopia_episode()
    judgment = SotopiaJudge(FakeJudgeModel([sotopia_answer(GOOD_SCORES)]), **FAST).judge_episode(episode)[
        "agent1"
    ]
    brief = " ".join(["Push for a concrete price early and hold it."] * 40)  # 360 words
    model = FakeJudgeModel([_answer(brief, ORDER)])
    writer = default_feedback_writer(model, **FAST)
    result = writer.feedback_for(episode, judgment)
    assert result.error is None and result.feedback is not None
    assert result.feedback.critique == brief and result.feedback.per_dimension["goal"] == "critique of goal"
    prompt = model.requests[0].messages[-1]["content"]
    # Goal first, the judge's reasoning and score ranges included, the other side's goal shown.
    assert prompt.index("- goal: 7 (range 0..10)") < prompt.index("- relationship: 1 (range -5..5)")
    assert "because goal" in prompt and "Buy the record player" in prompt
    attached = writer.attach(episode, judgment)
    assert attached.feedback == result.feedback and attached.score == judgment.score


def test_feedback_word_bounds_are_enforced_by_the_schema():
    episode = sotopia_episode()
    judgment = Judgment(agent="agent1", score=0.5, dims=dict(GOOD_SCORES))
    model = FakeJudgeModel([_answer("Too short.", ORDER)])
    result = default_feedback_writer(model, **FAST).feedback_for(episode, judgment)
    assert result.feedback is None and "at least 300" in (result.error or "")
    assert len(model.requests) == 3
    flagged = default_feedback_writer(FakeJudgeModel([_answer("short", ORDER)]), **FAST).attach(
        episode, judgment
    )
    assert flagged.feedback is None and "at least 300" in flagged.flags["feedback_error"]


def _mcq_writer(model):
    def prompt(record, judgment):
        return [{"role": "user", "content": f"Draft: {record.events[-1].text}. Score {judgment.score}."}]

    return FeedbackWriter(
        model, task="mcq", dimensions=["reasoning"], prompt=prompt, gold=lambda r: Gold(letter="B"), **FAST
    )


def test_leaking_feedback_is_regenerated_once_then_dropped():
    record = record_with_turns(
        [("answerer", "<answer>C</answer>")], {}, agents=["answerer"], policy_agents=["answerer"]
    )
    judgment = Judgment(agent="answerer", score=0.0)
    model = FakeJudgeModel(
        [_answer("The answer is B."), _answer("Re-read who left the room before the move.")]
    )
    result = _mcq_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique.startswith("Re-read")
    assert len(model.requests) == 2
    assert "gave the answer away" in model.requests[1].messages[-1]["content"]
    leaky = FakeJudgeModel([_answer("Choose option B.")])
    dropped = _mcq_writer(leaky).feedback_for(record, judgment)
    assert dropped.feedback is None and "leaks the gold" in (dropped.error or "")
    assert len(leaky.requests) == 2
    none = _mcq_writer(FakeJudgeModel(["unused"])).feedback_for(
        record, Judgment.failed("answerer", "judge failed")
    )
    assert none.feedback is None and none.error == "the draft has no valid judgment"
