"""UserLLM (NQ intent, router, PRISM) judge."""

from __future__ import annotations

import pytest
from judges_fakes import FakeJudgeModel, record_with_turns

from judges.tasks.userllm import END_TOKEN, NQIntentJudge, UserLLMJudge, intent_overlap

FAST = {"backoff_s": 0.0}


def _schema_title(request) -> str:
    return request.json_schema.get("title", "")


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
