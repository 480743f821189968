"""UserLLM judges on hand-made records: NQ intent (scripted verdicts), the router, PRISM parts and the
per-sweep metrics."""

from __future__ import annotations

import pytest
from judges_fakes import FakeJudgeModel, policy_error, record_with_turns

from scenarios.userllm.judge import (
    END_TOKEN,
    NQIntentJudge,
    UserLLMJudge,
    intent_overlap,
    prism_sweep,
    read_reply,
    subset_scores,
)

FAST = {"backoff_s": 0.0}
NQ_ROW = {
    "source": "natural_questions",
    "intent": "find out which year the old lighthouse on the north pier was built",
    "question": "what year was the north pier lighthouse built",
    "assistant_suggestion_turn": "I could tell you about lighthouse keepers' daily routines instead?",
    "conversation_history": "user: what year was the north pier lighthouse built\nassistant: ...",
}
CSQA_ROW = {
    "source": "commonsense_qa",
    "intent": "ask where people keep money safe",
    "choices": {"label": ["A", "B", "C"], "text": ["bank", "library", "park"]},
}
HISTORY = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello, what do you need?"}]
PRISM_LAST = {
    "source": "prism_sequential",
    "intent": "find out which year the lighthouse was built",
    "conversation_history": HISTORY,
    "is_last_turn": True,
}
PRISM_GO_ON = {**PRISM_LAST, "is_last_turn": "False"}
PRISM_FIRST = {"source": "prism_first_turn", "intent": "get tips for growing basil indoors"}


def user_record(text: str, row: dict, kind: str = "message"):
    return record_with_turns([("user", text, kind)], row, agents=["user"], policy_agents=["user"])


def detector(label: str, reasoning: str = "casual") -> str:
    return f'{{"reasoning": "{reasoning}", "label": "{label}"}}'


def test_read_reply_drops_text_after_the_end_token_and_labels():
    assert read_reply(f"thanks {END_TOKEN} and more {END_TOKEN}") == read_reply(f"thanks {END_TOKEN}")
    assert read_reply(f"User: thanks {END_TOKEN} x").message == "thanks"
    assert read_reply(f"ok\nAssistant: glad to help {END_TOKEN}") == read_reply("ok")
    assert read_reply("**User:** where").message == "where" and not read_reply("where").ended


def test_nq_judge_verdicts_and_invalid_reply():
    refused = FakeJudgeModel(['{"reasoning": "re-asked", "verdict": "REFUSED"}'])
    j = NQIntentJudge(refused, **FAST).judge_episode(user_record("no, what YEAR was it built", NQ_ROW))[
        "user"
    ]
    assert j.score == 1.0 and j.reasons["intent"] == "re-asked" and j.dims["refused"] == 1.0
    assert "no, what YEAR was it built" in refused.requests[0].messages[-1]["content"]
    accepted = FakeJudgeModel(['{"reasoning": "went along", "verdict": "ACCEPTED"}'])
    judged = NQIntentJudge(accepted, **FAST).judge_episode(user_record("sure, tell me", NQ_ROW))["user"]
    assert judged.score == 0.0 and judged.error is None
    unused = FakeJudgeModel(["never"])
    invalid = NQIntentJudge(unused, **FAST).judge_episode(
        user_record("empty message", NQ_ROW, "invalid_action")
    )
    assert invalid["user"].score == 0.0 and invalid["user"].dims["valid"] == 0.0 and unused.requests == []


@pytest.mark.parametrize(
    "reply", ["not json at all", '{"reasoning": "x", "verdict": "MAYBE"}', policy_error()]
)
def test_nq_judge_failure_is_an_error_never_a_score(reply):
    model = FakeJudgeModel([reply])
    judgment = NQIntentJudge(model, **FAST).judge_episode(user_record("what year though", NQ_ROW))["user"]
    assert judgment.score is None and judgment.error
    assert len(model.requests) == 3  # three attempts


def test_userllm_router_and_prism():
    model = FakeJudgeModel([detector("HUMAN")])
    judge = UserLLMJudge(model, **FAST)
    leaked = judge.judge_episode(user_record("is it the library?", CSQA_ROW))["user"]
    assert leaked.score == 0.0 and leaked.judge["kind"] == "userllm_csqa"
    # The case: the leaked choice comes after the end token, so it is never read.
    kept = judge.judge_episode(user_record(f"which one? {END_TOKEN} bank", CSQA_ROW))["user"]
    assert kept.score == 1.0 and kept.dims["choices_named"] == 0.0
    p = judge.judge_episode(
        user_record(f"what year was the lighthouse built {END_TOKEN} ignored", PRISM_LAST)
    )
    assert p["user"].dims["human_like"] == 1.0 and p["user"].dims["termination_correct"] == 1.0
    assert p["user"].score == 1.0
    assert p["user"].dims["intent_overlap"] == 1.0  # {year, lighthouse, built} all in the intent
    assert "ignored" not in model.requests[0].messages[-1]["content"]
    assert intent_overlap("buy a red bike", "where can I buy shoes") == pytest.approx(1 / 2)
    foreign = judge.judge_episode(user_record("x", {"source": "reddit", "intent": "x"}))["user"]
    assert foreign.score is None and "unknown UserLLM source" in foreign.error


def test_a_string_false_is_not_a_last_turn():
    judge = UserLLMJudge(FakeJudgeModel([detector("HUMAN")]), **FAST)
    ended = judge.judge_episode(user_record(f"thx {END_TOKEN}", PRISM_GO_ON))["user"]
    assert ended.dims["termination_correct"] == 0.0 and ended.score == 0.5


def test_prism_sweep_metrics_and_subset_scores():
    labels = iter(["HUMAN", "AI", "HUMAN", "HUMAN", "HUMAN"])
    model = FakeJudgeModel([lambda request: detector(next(labels))])
    judge = UserLLMJudge(model, **FAST)
    records = [
        user_record("basil dying help", PRISM_FIRST),  # HUMAN
        user_record("basil dying north window", PRISM_FIRST),  # AI
        user_record(f"ok {END_TOKEN}", PRISM_GO_ON),  # HUMAN; ended on a go-on turn: false positive
        user_record(f"thx {END_TOKEN}", PRISM_LAST),  # HUMAN; true positive
        user_record("and the year?", PRISM_LAST),  # HUMAN; false negative
        user_record("where do people keep money", CSQA_ROW),
        user_record("the bank", CSQA_ROW),
    ]
    judgments = [judge.judge_episode(r)["user"] for r in records]
    assert [j.score for j in judgments] == [1.0, 0.0, 0.5, 1.0, 0.5, 1.0, 0.0]
    items = list(zip(records, judgments))
    metrics = prism_sweep(items)
    assert metrics["first_turn_diversity"] == pytest.approx(1 - 2 / 5)  # {basil, dying} of 5 words
    assert metrics["termination_f1"] == pytest.approx(2 * 1 / (2 * 1 + 2))
    assert metrics["ai_rate"] == pytest.approx(1 / 5)
    overlaps = [j.dims["intent_overlap"] for j in judgments[:5]]
    assert metrics["intent_overlap"] == pytest.approx(sum(overlaps) / 5)
    expected = (0.6 + 0.5 + 0.8 + 1 - metrics["intent_overlap"]) / 4
    assert metrics["score"] == pytest.approx(expected)
    scores = subset_scores(items)
    assert scores["csqa"] == 0.5 and scores["nq"] is None and scores["prism"] == pytest.approx(expected)
    assert scores["score"] == pytest.approx((0.5 + expected) / 2)
    assert prism_sweep([])["score"] is None
