"""FanToM feedback: written from the draft and the gold, focused by question family, never revealing
the gold (letter, option text, the whole name list, the yes/no answer, the fact answer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judges_fakes import FakeJudgeModel

import osim_env
from scenarios.fantom.feedback import default_feedback_writer, gold_of, stated_answer
from scenarios.fantom.schema import FanToMRow

MC, LIST, BINARY_NO, FACT, BINARY_YES = 0, 1, 2, 3, 4


def draft(scenario: int, text: str):
    env = osim_env.make("soul/fantom-v0", scenario=scenario)
    env.reset(seed=0)
    env.step(text)
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["answerer"]


def answer(feedback: str) -> str:
    return json.dumps(
        {
            "critiques": {"information_access": "missed who was present"},
            "reflection": "Check who was there.",
            "feedback": feedback,
        }
    )


def test_prompt_carries_type_context_draft_gold_and_the_family_focus():
    record, judgment = draft(MC, "Jun told everyone. <answer>b</answer>")
    assert judgment.score == 0.0
    model = FakeJudgeModel([answer("Ask yourself whether Mara was still there when the date changed.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "Mara was still there" in result.feedback.critique
    prompt = model.requests[0].messages[-1]["content"]
    assert "## Question type\ntom:belief:inaccessible:multiple-choice" in prompt
    assert "Jun told everyone." in prompt and "(a) Mara believes the original night still holds." in prompt
    assert "what each character witnessed or was told" in prompt
    assert model.requests[0].json_schema is not None


@pytest.mark.parametrize(
    ("scenario", "text", "focus", "gold"),
    [
        (
            LIST,
            "<answer>Priya</answer>",
            "who was present in the conversation",
            "Priya, Tomas (and not: Lena)",
        ),
        (BINARY_NO, "<answer>yes</answer>", "direct access", "## Gold answer (for you only)\nno"),
        (FACT, "<answer>two hours</answer>", "only what was actually said", "about four hours"),
    ],
)
def test_each_family_gets_its_focus(scenario, text, focus, gold):
    record, judgment = draft(scenario, text)
    model = FakeJudgeModel([answer("Look again at the order in which people joined.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None
    prompt = model.requests[0].messages[-1]["content"]
    assert focus in prompt and gold in prompt and text in prompt


LEAKS = [
    (MC, "The answer is A.", "names the gold option"),
    (MC, "Mara believes the original night still holds.", "contains the gold text"),
    (LIST, "Both Priya and Tomas heard it.", "names every gold name"),
    (BINARY_NO, "No, she joined too late.", "states the answer"),
    (BINARY_NO, "The answer should be no here.", "states the answer"),
    (BINARY_YES, "Say yes: Yara heard it herself.", "states the answer"),
    (FACT, "She said it took about four hours.", "contains the gold text"),
]


@pytest.mark.parametrize(("scenario", "leaky", "why"), LEAKS)
def test_leaking_feedback_is_regenerated_once_then_dropped(scenario, leaky, why):
    record, judgment = draft(scenario, "<answer>something</answer>")
    model = FakeJudgeModel([answer(leaky), answer(leaky)])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in (result.error or "") and why in result.error
    assert len(model.requests) == 2
    assert "gave the answer away" in model.requests[1].messages[-1]["content"]


@pytest.mark.parametrize(
    ("scenario", "clean"),
    [
        (MC, "Think about when Mara left and what Jun said after that."),
        (LIST, "Check whether Lena had joined when the cat's name came up."),  # one name is no leak
        (LIST, "Priya said it herself; who else was there?"),
        (BINARY_NO, "Ama had no way to hear Ravi; check the order of arrivals."),  # "no" mid-sentence
        (FACT, "Only Hana's own words about the climb count."),
    ],
)
def test_clean_feedback_passes_after_a_leak(scenario, clean):
    record, judgment = draft(scenario, "<answer>something</answer>")
    model = FakeJudgeModel([answer(clean)])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == clean


def test_gold_and_stated_answer_by_hand():
    rows = [json.loads(line) for line in Path("scenarios/fantom/data/fixture.jsonl").read_text().splitlines()]
    mc = osim_env.make_raw("soul/fantom-v0", scenario=MC)
    mc.reset(seed=0)
    gold = gold_of(mc.episode_record())
    assert gold.letter == "A" and gold.texts == ("Mara believes the original night still holds.",)
    binary = FanToMRow.model_validate(rows[BINARY_NO])
    assert stated_answer("no.", binary) == "states the answer: 'no'"
    assert stated_answer("Nobody told Ama.", binary) is None
    assert stated_answer("Would she answer no?", binary) == "states the answer: 'answer no'"
    assert stated_answer("The correct answer is: no.", binary) == "states the answer: 'answer is: no'"
    assert stated_answer("Her answer is nothing new.", binary) is None
