"""SimulatorArena feedback: one to three sentences on the biggest gap, built from the judges' key
differences and "No Match" analyses; never the real human's words or the problem's answer
(docs/tasks.md#simarena)."""

from __future__ import annotations

import json

from judges_fakes import FakeJudgeModel

import osim_env
from judges.judgment import Judgment
from scenarios.simarena.feedback import default_feedback_writer, style_numbers
from scenarios.simarena.judge import SimArenaJudge


def likert_and_features(request):
    title = request.json_schema.get("title", "")
    if title == "LikertAnswer":
        return json.dumps(
            {
                "key_differences": ["The simulated student writes long, formal sentences."],
                "similarity_score": 2,
            }
        )
    names = ["Message Length", "Confidence", "Feedback Style"]
    return json.dumps(
        {
            "results": [
                {"feature_name": n, "analysis": f"never does {n.lower()}", "classification": "No Match"}
                for n in names
            ]
        }
    )


def draft(row=0):
    env = osim_env.make("soul/simarena-math-v0", scenario=row, judge=False, max_student_turns=2)
    env.reset(seed=0)
    env.step("Query: Good afternoon. Could you kindly explain how one determines the common multiple?")
    env.step("Sure. What are the first multiples of 4?")
    env.step("Response: The multiples of four are 4, 8, 12 and 16. Is that correct?")
    env.step("Yes. And of 6?")
    record = env.unwrapped.episode_record()
    judgment = SimArenaJudge(FakeJudgeModel([likert_and_features]), backoff_s=0.0).judge_episode(record)[
        "student"
    ]
    return record, judgment


def answer(feedback: str) -> str:
    return json.dumps(
        {
            "critiques": {
                "writing": "too formal",
                "interaction": "too thorough",
                "fulfillment": "no guessing",
            },
            "reflection": "Be terse.",
            "feedback": feedback,
        }
    )


def test_feedback_prompt_has_the_verdicts_and_numbers_but_no_real_student_text():
    record, judgment = draft()
    assert judgment.score is not None
    model = FakeJudgeModel([answer("Write a few lowercase words per message and guess before you think.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and "lowercase" in result.feedback.critique
    prompt = model.requests[0].messages[-1]["content"]
    assert "long, formal sentences" in prompt and "never does confidence" in prompt
    assert "Could you kindly explain" in prompt  # the draft
    for real in record.scenario["human_user_queries"]:
        assert real not in prompt
    assert "3 messages, median 7 words per message, 67% start in lower case" in prompt


def test_feedback_with_eight_real_words_or_the_answer_is_regenerated_once_then_dropped():
    record, judgment = draft()
    row = dict(record.scenario)
    row["human_user_queries"] = ["is it 10 because 4 plus 6 makes ten right", "12 then"]
    record = record.model_copy(update={"scenario": row})
    leak = answer("Say it like: is it 10 because 4 plus 6 makes ten.")
    model = FakeJudgeModel([leak, leak])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "8 words" in result.error and len(model.requests) == 2
    # Seven words of the real messages are no leak.
    model = FakeJudgeModel([answer("Say it like: is it 10 because 4 plus.")])
    assert default_feedback_writer(model).feedback_for(record, judgment).error is None
    # The problem's answer (the row's correct_answer, "12") is a leak too.
    solved = FakeJudgeModel([answer("Get to 12 faster."), answer("Get to the answer faster.")])
    result = default_feedback_writer(solved).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == "Get to the answer faster."
    assert "12" in json.dumps(solved.requests[1].messages[-1]["content"])  # told what leaked


def test_failed_judgments_get_no_feedback_and_style_numbers():
    record, _ = draft()
    model = FakeJudgeModel([answer("x")])
    failed = Judgment.failed("student", "writing: judge call failed")
    assert default_feedback_writer(model).feedback_for(record, failed).feedback is None
    assert model.requests == []
    assert style_numbers([]) == "no messages"
    assert style_numbers(["Hi?", "ok", "fine thanks"]) == (
        "3 messages, median 1 words per message, 67% start in lower case, 33% contain a question mark"
    )


def test_doc_feedback_prompt_names_the_document_task():
    env = osim_env.make("soul/simarena-doc-v0", scenario=0, judge=False, finalize=False)
    env.reset(seed=0)
    env.step("Message: Please write a thank-you note for my neighbour.")
    env.step("Dear Ines, ...")
    env.step("terminate conversation")
    record = env.unwrapped.episode_record()

    def reply(request):
        if request.json_schema.get("title") == "LikertAnswer":
            return json.dumps({"key_differences": ["too eager"], "similarity_score": 3})
        names = ["Politeness Frequency", "Iterative and Incremental Refinement", "Specificity of Requests"]
        results = [{"feature_name": n, "analysis": "a", "classification": "Match"} for n in names]
        return json.dumps({"results": results})

    judgment = SimArenaJudge(FakeJudgeModel([reply]), backoff_s=0.0).judge_episode(record)["user"]
    model = FakeJudgeModel([answer("Ask for one change per message.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None
    prompt = model.requests[0].messages[-1]["content"]
    assert "Thank-you note: Thank a neighbour" in prompt and "simulated user" in prompt
    assert "- AI Writing Assistant: Dear Ines, ..." in prompt
