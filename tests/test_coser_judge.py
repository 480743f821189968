"""CoSER (flaw formula and anchored variant) judge."""

from __future__ import annotations

import json

import pytest
from judges_fakes import FakeJudgeModel, record_with_turns

from scenarios.coser.judge import CoSERJudge, character_turns, flaw_score, simulated_lines

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
