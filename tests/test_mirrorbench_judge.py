"""MirrorBench (GTEval, PI, RNR) judge."""

from __future__ import annotations

import pytest
from judges_fakes import FakeJudgeModel, record_with_turns

from judges.tasks.mirrorbench import MirrorBenchJudge, calibrate, pi_value, proxy_is_a, reference_conversation

FAST = {"backoff_s": 0.0}


def _schema_title(request) -> str:
    return request.json_schema.get("title", "")


# -- MirrorBench -----------------------------------------------------------------------------------
MB_ROW = {
    "task_description": "Quick dinner idea with leftover rice; short lowercase bursts; allergic to eggs.",
    "turns": [
        {"role": "user", "content": "dinner idea w leftover rice? fast pls"},
        {"role": "assistant", "content": "Try egg fried rice."},
        {"role": "user", "content": "no eggs, allergic"},
        {"role": "assistant", "content": "Then a veggie rice skillet."},
    ],
}


def _mb_record(seed: int = 0):
    turns = [
        ("user", "Hello! I would love a dinner idea that uses leftover rice."),
        ("assistant", "Try egg fried rice."),
        ("user", "I am allergic to eggs, unfortunately."),
        ("assistant", "Then a veggie rice skillet."),
    ]
    return record_with_turns(turns, MB_ROW, agents=["user", "assistant"], policy_agents=["user"], seed=seed)


def _mb_reply(gteval="0.6", pi="A", rnr="YES"):
    def reply(request):
        title = _schema_title(request)
        if title == "GTEvalAnswer":
            return '{"reasoning": "r", "score": ' + gteval + "}"
        if title == "PIAnswer":
            return '{"reasoning": "r", "verdict": "' + pi + '"}'
        return '{"reasoning": "r", "verdict": "' + rnr + '"}'

    return reply


def test_mirrorbench_formulas():
    assert pi_value("TIE", True) == 0.5
    assert pi_value("A", True) == 1.0 and pi_value("A", False) == 0.0 and pi_value("B", False) == 1.0
    assert calibrate(0.5, 0.5, 0.1) == 1.0 and calibrate(0.3, 0.5, 0.1) == pytest.approx(0.5)
    assert calibrate(0.0, 0.5, 0.1) == 0.0
    orders = {proxy_is_a(_mb_record(seed)) for seed in range(12)}
    assert orders == {True, False}  # the order varies with the seed ...
    assert proxy_is_a(_mb_record(3)) == proxy_is_a(_mb_record(3))  # ... and is reproducible
    assert [t["role"] for t in reference_conversation(MB_ROW, max_user_turns=1)] == ["user"]


def test_mirrorbench_judge_mean_reward():
    record = _mb_record(seed=5)
    model = FakeJudgeModel([_mb_reply()])
    j = MirrorBenchJudge(model, reward="judge_mean", **FAST).judge_episode(record)["user"]
    pi = 1.0 if proxy_is_a(record) else 0.0
    assert j.dims["pi"] == pi and j.dims["gteval"] == 0.6 and j.dims["rnr"] == 1.0
    assert j.score == pytest.approx((0.6 + pi + 1.0) / 3)
    assert {"proxy.mattr", "human.mattr", "proxy.yules_k", "human.hdd"} <= set(j.dims)
    (pi_request,) = [r for r in model.requests if _schema_title(r) == "PIAnswer"]
    prompt = pi_request.messages[-1]["content"]
    first = prompt.index("## Conversation A")
    second = prompt.index("## Conversation B")
    proxy_at = prompt.index("I am allergic to eggs")
    assert (first < proxy_at < second) == proxy_is_a(record)


def test_mirrorbench_optional_judge_failure_is_logged_required_is_fatal():
    record = _mb_record()
    model = FakeJudgeModel([_mb_reply(pi="MAYBE")])
    j = MirrorBenchJudge(model, reward="gteval", **FAST).judge_episode(record)["user"]
    assert j.score == 0.6 and "pi" not in j.dims and "pi.error" in j.reasons
    failed = MirrorBenchJudge(FakeJudgeModel([_mb_reply(pi="MAYBE")]), reward="pi", **FAST).judge_episode(
        record
    )
    assert failed["user"].score is None
    out_of_range = MirrorBenchJudge(FakeJudgeModel([_mb_reply(gteval="1.5")]), judges=["gteval"], **FAST)
    assert out_of_range.judge_episode(record)["user"].error
    with pytest.raises(ValueError):
        MirrorBenchJudge(model, reward="bleu")
