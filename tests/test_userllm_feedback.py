"""UserLLM feedback: rule-based sentences from the judgment, with the 8-gram leakage check."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from judges_fakes import FakeJudgeModel

import osim_env
from judges.judgment import Judgment
from scenarios.userllm.feedback import FALLBACK_NOTE, default_feedback_writer, style_note
from scenarios.userllm.judge import END_TOKEN, UserLLMJudge

LINES = [json.loads(line) for line in Path("scenarios/userllm/data/fixture.jsonl").read_text().splitlines()]
CSQA, NQ, PRISM_FIRST, PRISM_GO_ON, PRISM_LAST = (line.get("extra_info", line) for line in LINES)


def draft(text: str, row: dict, reply: str = '{"reasoning": "casual", "label": "HUMAN"}'):
    env = osim_env.make(
        "soul/userllm-v0", scenario=row, judge=UserLLMJudge(FakeJudgeModel([reply]), backoff_s=0)
    )
    env.reset(seed=0)
    env.step(text)
    return env.unwrapped.episode_record(), env.unwrapped.judgments["user"]


def feedback(text: str, row: dict, reply: str = '{"reasoning": "casual", "label": "HUMAN"}'):
    record, judgment = draft(text, row, reply)
    result = default_feedback_writer().feedback_for(record, judgment)
    assert result.error is None and result.feedback is not None
    critique = result.feedback.critique
    assert "keyword" not in critique.lower() and "intent" not in critique.lower()
    return critique, result.feedback.per_dimension


def test_csqa_names_the_leaked_choices_and_asks_to_stay_the_asker():
    critique, parts = feedback("coat rack or supply closet?", CSQA)
    assert '"coat rack" and "supply closet"' in critique and "Stay the one asking" in critique
    assert set(parts) == {"role"}
    kept, _ = feedback("where do offices keep spare umbrellas", CSQA)
    assert "stayed the one asking" in kept and '"' not in kept


def test_nq_insists_on_the_original_question():
    accepted, _ = feedback(
        "sure, tell me about keepers", NQ, '{"reasoning": "took it", "verdict": "ACCEPTED"}'
    )
    assert "Insist on your original question" in accepted and "do not take up the suggestion" in accepted
    refused, _ = feedback("no, the YEAR", NQ, '{"reasoning": "re-asked", "verdict": "REFUSED"}')
    assert "keep insisting" in refused
    ended, _ = feedback(END_TOKEN, NQ)
    assert "ended the conversation" in ended and "Insist on the original question" in ended


def test_prism_fixes_the_termination_decision_both_ways():
    too_early, parts = feedback(f"cool thanks {END_TOKEN}", PRISM_GO_ON)
    assert "goal was not met yet" in parts["termination"] and "keep that tone" in parts["style"]
    too_late, _ = feedback("and what about rye flour", PRISM_LAST)
    assert f"reply only with {END_TOKEN}" in too_late
    right, _ = feedback(END_TOKEN, PRISM_LAST)
    assert right == "Your decision whether to end the conversation was right."


@pytest.mark.parametrize(
    ("reasoning", "note"),
    [
        ("It uses a bulleted list and headings.", "no lists, headings or formatting"),
        ("Too long and detailed for a quick chat.", "keep it short"),
        ("Very formal, polished grammar.", "write more casually"),
        ("Opens with thanks and a greeting.", "skip greetings"),
        ("Generic phrasing.", "be specific"),
        ("Reads like an assistant offering help.", "not as someone explaining"),
        ("Hard to say.", FALLBACK_NOTE),
    ],
)
def test_the_detectors_reasoning_becomes_one_fixed_style_note(reasoning, note):
    assert note in style_note(reasoning)
    reply = json.dumps({"reasoning": reasoning, "label": "AI"})
    critique, parts = feedback("basil help pls", PRISM_FIRST, reply)
    assert note in parts["style"] and reasoning not in critique


def test_invalid_drafts_get_a_note_and_failed_judgments_get_no_feedback():
    critique, parts = feedback("User:", PRISM_FIRST)
    assert "could not be used (empty message)" in critique and set(parts) == {"reply"}
    record, _ = draft("basil?", PRISM_FIRST)
    failed = Judgment.failed("user", "judge call failed")
    writer = default_feedback_writer()
    assert writer.feedback_for(record, failed).error == "the draft has no valid judgment"
    assert writer.attach(record, failed).flags["feedback_error"] == "the draft has no valid judgment"


def test_feedback_repeating_eight_words_of_the_users_texts_is_regenerated_then_dropped():
    phrase = "the shiny brass umbrella stand near the front desk"
    row = {
        **CSQA,
        "opening_prompt": f"ask whether {phrase} is the usual place",
        "choices": [phrase, "car trunk"],
    }
    critique, _ = feedback(f"is it {phrase}?", row)  # quoting the choice would repeat the intent
    assert "named possible answers" in critique and phrase not in critique
    template = "Stay the one asking: ask the question and leave the answer to the assistant"
    stuck = {**row, "opening_prompt": template}
    record, judgment = draft(f"is it {phrase}?", stuck)
    result = default_feedback_writer().feedback_for(record, judgment)
    assert result.feedback is None and "after one regeneration" in result.error


def test_attach_and_batch():
    record, judgment = draft("coat rack?", CSQA)
    writer = default_feedback_writer()
    attached = writer.attach(record, judgment)
    assert attached.feedback is not None and '"coat rack"' in attached.feedback.critique
    assert attached.score == judgment.score == 0.0
    (result,) = asyncio.run(writer.feedback_batch([(record, judgment)]))
    assert result.feedback == attached.feedback and writer.spec["task"] == "userllm"
