"""Task judges: CoSER (flaw formula and anchored variant), MirrorBench (GTEval, PI, RNR), UserLLM."""

from __future__ import annotations

import json

import pytest
from judges_fakes import FakeJudgeModel, record_with_turns

from judges.tasks.coser import CoSERJudge, character_turns, flaw_score, simulated_lines
from judges.tasks.mirrorbench import MirrorBenchJudge, calibrate, pi_value, proxy_is_a, reference_conversation
from judges.tasks.userllm import END_TOKEN, NQIntentJudge, UserLLMJudge, intent_overlap

FAST = {"backoff_s": 0.0}


def _schema_title(request) -> str:
    return request.json_schema.get("title", "")


# -- CoSER -----------------------------------------------------------------------------------------
COSER_ROW = {
    "circumstance": {
        "book": "The Clockmaker's Winter",
        "plot": {
            "summary": "A clockmaker's apprentice suspects her master of forging a guild seal.",
            "key_characters": [{"name": "Hedda", "description": "sharp-eyed apprentice, 17"}],
        },
        "character_profiles": {"Hedda": "Orphan taken in by the guild.", "Master Aurel": "Aging clockmaker."},
        "dialogues": [
            {
                "character": "Hedda",
                "message": "[He is hiding the seal.] The wax is still warm. (sets it down)",
            },
            {"character": "Master Aurel", "message": "Warm wax proves nothing, child."},
        ],
        "speaking_characters_w_env": ["Hedda", "Master Aurel", "Environment"],
        "major_characters": ["Hedda", "Master Aurel"],
        "key_characters": [{"name": "Hedda", "motivation": "Find out about the seal."}],
        "scenario": "Late evening in the workshop.",
    }
}


def _coser_record():
    turns = [
        ("character:Hedda", "[I must know.] The wax is warm, Master. (holds up the letter)"),
        ("director", "Next Speaker: Master Aurel"),
        ("character:Master Aurel", "Back to the gears, child."),
        ("director", "Next Speaker: Environment"),
        ("environment", "Snow taps on the window.", "narration"),
        ("character:Hedda", "I will not."),
        ("character:Master Aurel", "Then leave."),
        ("character:Hedda", "(leaves)", "action"),
    ]
    agents = ["character:Hedda", "character:Master Aurel", "environment", "director"]
    return record_with_turns(turns, COSER_ROW, agents=agents, policy_agents=agents[:2])


def test_coser_flaw_formula_by_hand():
    assert flaw_score([3, 4, 2], 12) == pytest.approx(73.0)  # the spec's example
    assert flaw_score([], 12) == 100.0  # clipped at 100
    assert flaw_score([5] * 30, 0) == 0.0  # clipped at 0


def test_coser_transcript_and_turns():
    record = _coser_record()
    lines = simulated_lines(record)
    assert lines[0] == "Hedda: The wax is warm, Master. (holds up the letter)"  # thought removed
    assert "Environment: Snow taps on the window." in lines
    assert not any("Next Speaker" in line for line in lines)  # director excluded
    assert character_turns(record) == 5


def test_coser_flaws_judge():
    flaws = {
        "Storyline Consistency": [3],
        "Anthropomorphism": [],
        "Character Fidelity": [5, 5, 5],
        "Storyline Quality": [2, 2],
    }

    def reply(request):
        prompt = request.messages[-1]["content"]
        (severities,) = [v for k, v in flaws.items() if f"## Dimension\n{k}" in prompt]
        return json.dumps({"flaws": [{"instance": "x", "reason": "y", "severity": s} for s in severities]})

    model = FakeJudgeModel([reply])
    judgments = CoSERJudge(model, **FAST).judge_episode(_coser_record())
    assert set(judgments) == {"character:Hedda", "character:Master Aurel"}
    j = judgments["character:Hedda"]
    # n_turns = 5: 100-(3-1.5)*5 = 92.5; 100 (clipped 107.5); 100-(15-1.5)*5 = 32.5; 100-(4-1.5)*5 = 87.5
    assert j.dims["storyline_consistency"] == pytest.approx(92.5)
    assert j.dims["anthropomorphism"] == 100.0
    assert j.dims["character_fidelity"] == pytest.approx(32.5)
    assert j.score == pytest.approx((92.5 + 100 + 32.5 + 87.5) / 400)
    assert judgments["character:Master Aurel"].score == j.score
    assert 0.0 <= j.dims["bleu4"] <= 1.0 and 0.0 < j.dims["rouge_l"] <= 1.0
    assert len(model.requests) == 4  # one call per dimension, one batch
    assert (
        "He is hiding the seal" not in model.requests[0].messages[-1]["content"]
    )  # reference thoughts removed


def test_coser_anchored_judge_and_failure():
    scores = {
        "storyline_consistency": 10,
        "anthropomorphism": 1,
        "character_fidelity": 4,
        "storyline_quality": 7,
    }
    answer = json.dumps({d: {"reasoning": "r", "score": s} for d, s in scores.items()})
    model = FakeJudgeModel([answer])
    j = CoSERJudge(model, scoring="anchored", **FAST).judge_episode(_coser_record())["character:Hedda"]
    assert j.score == pytest.approx((9 + 0 + 3 + 6) / 36)
    assert "10: flawless" in model.requests[0].messages[-1]["content"]
    bad = json.dumps({d: {"reasoning": "r", "score": 0} for d in scores})
    failed = CoSERJudge(FakeJudgeModel([bad]), scoring="anchored", **FAST).judge_episode(_coser_record())
    assert failed["character:Hedda"].score is None and "score" in (failed["character:Hedda"].error or "")


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


# -- UserLLM ---------------------------------------------------------------------------------------
NQ_ROW = {
    "source": "natural_questions",
    "intent": "find out which year the old lighthouse on the north pier was built",
    "question": "what year was the north pier lighthouse built",
    "assistant_suggestion_turn": "I could tell you about lighthouse keepers' daily routines instead?",
    "conversation_history": "user: what year was the north pier lighthouse built\nassistant: ...",
}


def _user_record(text: str, row: dict, kind: str = "message"):
    return record_with_turns([("user", text, kind)], row, agents=["user"], policy_agents=["user"])


def test_nq_judge_verdicts_and_invalid_reply():
    refused = FakeJudgeModel(['{"reasoning": "re-asked", "verdict": "REFUSED"}'])
    j = NQIntentJudge(refused, **FAST).judge_episode(_user_record("no, what YEAR was it built", NQ_ROW))[
        "user"
    ]
    assert j.score == 1.0 and j.reasons["intent"] == "re-asked"
    assert "no, what YEAR was it built" in refused.requests[0].messages[-1]["content"]
    accepted = FakeJudgeModel(['{"reasoning": "went along", "verdict": "ACCEPTED"}'])
    assert (
        NQIntentJudge(accepted, **FAST).judge_episode(_user_record("sure, tell me", NQ_ROW))["user"].score
        == 0.0
    )
    unused = FakeJudgeModel(["never"])
    invalid = NQIntentJudge(unused, **FAST).judge_episode(
        _user_record("empty message", NQ_ROW, "invalid_action")
    )
    assert invalid["user"].score == 0.0 and invalid["user"].dims["valid"] == 0.0 and unused.requests == []


def test_userllm_router_and_prism():
    csqa = {
        "source": "commonsense_qa",
        "choices": {"label": ["A", "B", "C"], "text": ["bank", "library", "park"]},
    }
    prism = {
        "source": "prism_sequential",
        "intent": "find out which year the lighthouse was built",
        "conversation_history": [{"role": "user", "content": "hi"}],
        "is_last_turn": True,
    }
    model = FakeJudgeModel(['{"reasoning": "casual", "label": "HUMAN"}'])
    judge = UserLLMJudge(model, **FAST)
    leaked = judge.judge_episode(_user_record("is it the library?", csqa))["user"]
    assert leaked.score == 0.0 and leaked.judge["kind"] == "csqa_role_adherence"
    p = judge.judge_episode(_user_record(f"what year was the lighthouse built {END_TOKEN} ignored", prism))[
        "user"
    ]
    assert p.dims["human_like"] == 1.0 and p.dims["termination_correct"] == 1.0 and p.score == 1.0
    assert p.dims["intent_overlap"] == 1.0  # {year, lighthouse, built} all in the intent
    assert "ignored" not in model.requests[0].messages[-1]["content"]
    assert intent_overlap("buy a red bike", "where can I buy shoes") == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="unknown UserLLM source"):
        judge.judge_episode(_user_record("x", {"source": "reddit"}))
