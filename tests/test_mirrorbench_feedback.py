"""MirrorBench feedback: one to three sentences on the style gap, never the real user's words
(docs/tasks.md#mirrorbench)."""

from __future__ import annotations

import json

from judges_fakes import FakeJudgeModel

import osim_env
from judges.judgment import Judgment
from scenarios.mirrorbench.feedback import default_feedback_writer, style_numbers
from scenarios.mirrorbench.judge import MirrorBenchJudge
from scenarios.mirrorbench.policy import ReferenceReplyPolicy

GTEVAL = '{"reasoning": "The simulated user writes long, polite paragraphs.", "score": 0.3}'
RNR = '{"reasoning": "Sounds like an assistant.", "verdict": "NO"}'
PI = '{"reasoning": "B is terse.", "verdict": "B"}'


def draft():
    env = osim_env.make("soul/mirrorbench-v0", scenario=0, judge=False)
    env.reset(seed=0)
    env.step("Hello there! I would really appreciate a dinner idea that uses my leftover rice, thank you.")
    env.step(ReferenceReplyPolicy().act(env.observe("assistant")))
    env.step("Unfortunately I am allergic to eggs. Could you please suggest an alternative?")
    record = env.unwrapped.episode_record()

    def reply(request):
        title = request.json_schema.get("title", "")
        return {"GTEvalAnswer": GTEVAL, "RNRAnswer": RNR}.get(title, PI)

    judgment = MirrorBenchJudge(FakeJudgeModel([reply]), backoff_s=0.0).judge_episode(record)["user"]
    return record, judgment


def answer(feedback: str) -> str:
    return json.dumps(
        {
            "critiques": {"gteval": "too long", "rnr": "too polite"},
            "reflection": "Be terse.",
            "feedback": feedback,
        }
    )


def test_feedback_prompt_has_the_verdicts_and_numbers_but_no_reference_user_text():
    record, judgment = draft()
    assert judgment.score == 0.3
    model = FakeJudgeModel(
        [answer("Real users here write a few lowercase words per turn; drop the pleasantries.")]
    )
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "lowercase" in result.feedback.critique
    prompt = model.requests[0].messages[-1]["content"]
    assert "long, polite paragraphs" in prompt and "Sounds like an assistant" in prompt
    assert "allergic to eggs" in prompt  # the draft
    assert "fast pls" not in prompt and "no eggs, allergic" not in prompt  # the real user's words
    assert "2 turns, median 5 words per turn, 100% start in lower case" in prompt
    assert model.requests[0].json_schema is not None


def test_feedback_repeating_eight_reference_words_is_regenerated_once_then_dropped():
    record, judgment = draft()
    # The fixture's real user turns have at most 7 words; a 9-word first turn gives 8-word runs to find.
    row = dict(record.scenario)
    row["turns"] = [dict(t) for t in row["turns"]]
    row["turns"][0]["content"] = "ok so dinner idea w leftover rice? fast pls"
    record = record.model_copy(update={"scenario": row})
    leak = answer("Try: ok so dinner idea w leftover rice fast pls.")
    model = FakeJudgeModel([leak, leak])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error and "8 words" in result.error
    assert len(model.requests) == 2
    model = FakeJudgeModel([leak, answer("Use short lowercase fragments and skip greetings.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique.startswith("Use short")
    # Seven words of the reference are no leak.
    model = FakeJudgeModel([answer("Say it like: dinner idea w leftover rice fast pls.")])
    assert default_feedback_writer(model).feedback_for(record, judgment).error is None


def test_failed_judgments_get_no_feedback_and_style_numbers():
    record, _ = draft()
    failed = Judgment.failed("user", "gteval: judge call failed")
    model = FakeJudgeModel([answer("x")])
    assert default_feedback_writer(model).feedback_for(record, failed).feedback is None
    assert model.requests == []
    assert style_numbers([]) == "no turns"
    assert style_numbers(["Hi?", "ok", "Fine thanks"]) == (
        "3 turns, median 1 words per turn, 33% start in lower case, 33% contain a question mark"
    )
