"""LifeChoices: rows (nested and dotted published fields), actions, the MCQ metric, observations,
middle-cut biographies in drafts and refined rollouts, feedback and replay."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from judges_fakes import FakeJudgeModel
from task_runs import replayed_episodes, scripted_run
from testing_judges import FailingJudge

import osim_env
from osim.cli import main
from osim_env.data import RowError, load_rows
from replays.replay import observation_digest, replay_record
from scenarios import lifechoices
from scenarios.lifechoices.feedback import default_feedback_writer, feedback_prompt
from scenarios.lifechoices.prompts import cut_middle
from scenarios.lifechoices.schema import DATA_SOURCE, LifeChoicesRow

FIXTURE = Path("scenarios/lifechoices/data/fixture.jsonl")
LINES = FIXTURE.read_text().splitlines()
ROW = json.loads(LINES[0])["extra_info"]  # Tamsin Hale, nested question, gold B
DOTTED = json.loads(LINES[1])["extra_info"]  # Orrin Vask, dotted keys, gold A
GOLDS = ["B", "A", "D", "C", "A"]
# A long biography whose beginning and end are recognisable; 60,000 characters in all.
LONG_BIO = (
    "START Tamsin remembers the ferry. " + "The river ran on. " * 3330 + "Tamsin never trusted land. END"
)


def with_biography(row, text):
    return {**row, "input_text": text}


def answer(text: str, row=ROW, **kwargs):
    env = osim_env.make("soul/lifechoices-v0", scenario=row, **kwargs)
    env.reset(seed=0)
    env.step(text)
    return env


# -- rows ---------------------------------------------------------------------------------------------
def test_fixture_rows_in_every_published_shape_normalize_to_one_row():
    rows = lifechoices.load(FIXTURE)
    assert [s.row.gold for s in rows] == GOLDS
    tamsin, orrin, mirela, bram, lio = (s.row for s in rows)
    # nested object
    assert tamsin.setting.startswith("The ferry company offers Tamsin")
    assert tamsin.options[1] == "Refuse and stay with the crew" and tamsin.gold_text() == tamsin.options[1]
    # dotted keys
    assert orrin.question == "What does Orrin do?" and orrin.options[0].startswith("Take the loan")
    # options as one "A. x, B. y, ..." string; Correct Answer "D. <text>"
    assert mirela.options[3] == "Refuse to sign and offer to buy the orchard herself"
    assert mirela.correct_answer.startswith("D. Refuse")
    assert rows[2].scenario_id == lifechoices.load(FIXTURE)[2].scenario_id  # a bare row: a stable hash
    # options written with their letters lose them; no book
    assert bram.options == [
        "Take the truck and start over in the capital",
        "Take the truck and send money back",
        "Stay and keep the camp school open",
        "Stay only until a replacement is found",
    ]
    assert bram.book is None
    # the question object as a JSON string
    assert lio.gold == "A" and lio.gold_text() == "Turn down the pardon and the office"


def test_code_names_and_aliases_read_the_same_row():
    by_code = LifeChoicesRow.model_validate(LifeChoicesRow.model_validate(ROW).model_dump())
    assert by_code == LifeChoicesRow.model_validate(ROW)
    question = ROW["Multiple Choice Question"]
    aliased = {
        "character_name": ROW["character_name"],
        "input_text": ROW["input_text"],
        "book": ROW["book"],
        "scenario": question["Scenario"],
        "question": question["Question"],
        "options": question["Options"],
        "correct_answer": question["Correct Answer"],
    }
    assert LifeChoicesRow.model_validate(aliased) == by_code
    dumped = by_code.model_dump()
    assert dumped["setting"] == question["Scenario"] and dumped["gold"] == "B"
    assert not any("Multiple Choice Question" in key for key in dumped)


def test_published_parquet_layout_with_nested_and_dotted_rows(tmp_path):
    rows = [
        {
            "data_source": "lifechoices",
            "extra_info": {**ROW, "index": "n0"},
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": "B"},
        },
        {
            "data_source": "lifechoices",
            "extra_info": {**DOTTED, "index": "d1"},
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": "A"},
        },
    ]
    # One Parquet file, two shapes: each row has the other shape's columns as nulls.
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "lifechoices.parquet")
    loaded = lifechoices.load(tmp_path / "lifechoices.parquet")
    assert [s.scenario_id for s in loaded] == ["n0", "d1"]
    assert [s.row.gold for s in loaded] == ["B", "A"]
    assert loaded[0].row == lifechoices.load(FIXTURE)[0].row
    assert loaded[1].row.setting == DOTTED["Multiple Choice Question.Scenario"]


def nested(**changes):
    return {**ROW, "Multiple Choice Question": {**ROW["Multiple Choice Question"], **changes}}


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({**ROW, "character_name": " "}, "character_name", "must not be blank"),
        ({k: v for k, v in ROW.items() if k != "input_text"}, "input_text", "Field required"),
        (nested(Options=["a", "b", "c"]), "Multiple Choice Question.Options", "need 4 options, got 3"),
        (nested(Options=["a", "", "c", "d"]), "Multiple Choice Question.Options", "an option is empty"),
        (nested(**{"Correct Answer": "E"}), "Multiple Choice Question.Correct Answer", "gold letter A-D"),
        (nested(**{"Correct Answer": "(B)"}), "Multiple Choice Question.Correct Answer", "gold letter A-D"),
        (
            {**DOTTED, "Multiple Choice Question.Question": ""},
            "Multiple Choice Question.Question",
            "at least 1",
        ),
        ({**ROW, "gold": "C"}, "gold", "does not match"),
    ],
)
def test_malformed_rows_raise_row_error_with_file_row_and_field(tmp_path, bad, field, message):
    path = tmp_path / "lifechoices.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (ROW, DOTTED, bad)) + "\n")
    with pytest.raises(RowError) as info:
        lifechoices.load(path)
    assert info.value.file == str(path) and info.value.row == 2 and info.value.field == field
    assert message in str(info.value)
    assert [s.row.gold for s in lifechoices.load(path, on_invalid="skip")] == ["B", "A"]
    _, skipped = load_rows(path, LifeChoicesRow, DATA_SOURCE, on_invalid="skip")
    assert skipped == 1


def test_rows_of_another_task_are_rejected(tmp_path):
    path = tmp_path / "lifechoices.jsonl"
    path.write_text(json.dumps({"data_source": "twinvoice", "extra_info": ROW}) + "\n")
    with pytest.raises(RowError) as info:
        lifechoices.load(path)
    assert info.value.field == "data_source"


# -- actions and metric -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "letter", "score"),
    [
        ("I never sold out a crewmate. <answer>B</answer>", "B", 1.0),
        ("<answer>(b)</answer>", "B", 1.0),
        ("I stay with my crew.\nFinal answer: **B**", "B", 1.0),
        ("<answer>A</answer> no: <answer>B</answer>", "B", 1.0),
        ("<think><answer>A</answer></think><answer>B</answer>", "B", 1.0),
        ("<answer>A</answer>", "A", 0.0),
        ("<answer>d</answer>", "D", 0.0),
    ],
)
def test_valid_answers_score_one_iff_the_letter_is_gold(text, letter, score):
    env = answer(text)
    event = env.unwrapped.log[0]
    assert event.kind == "message" and event.payload["answer"] == letter and event.payload["raw"] == text
    assert env.rewards == {"character": score}
    judgment = env.unwrapped.judgments["character"]
    assert judgment.dims == {"valid": 1.0, "correct": score}
    assert judgment.reasons == {"answer": f"answered {letter}, gold B"}
    assert env.unwrapped.termination == "answered"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I would refuse and stay with the crew.", "no answer found"),
        ("I'd say B fits", "no answer found"),
        ("<answer>Refuse and stay with the crew</answer>", "no answer found"),
        ("<answer>B or C</answer>", "more than one letter"),
        ("<answer>E</answer>", "letter out of range"),
        ("", "no answer found"),
        ("<think>B</think>", "empty after removing thinking"),
    ],
)
def test_invalid_answers_score_zero_with_a_reason(text, reason):
    env = answer(text)
    event = env.unwrapped.log[0]
    assert event.kind == "invalid_action" and event.payload["reason"] == reason
    assert event.visibility == ("character",)
    assert env.rewards == {"character": 0.0}
    judgment = env.unwrapped.judgments["character"]
    assert judgment.score == 0.0 and judgment.dims == {"valid": 0.0} and judgment.error is None
    assert env.infos["character"]["invalid_reason"] == reason
    assert env.unwrapped.termination == "invalid answer" and all(env.terminations.values())


def test_hand_written_answers_over_the_fixture_give_the_expected_accuracy():
    # gold: B, A, D, C, A
    answers = [
        "I stand with my crew. <answer>B</answer>",  # correct -> 1
        "<answer>B</answer>",  # wrong -> 0
        "I would refuse to sign.",  # no letter -> invalid, 0
        "The school matters most.\nAnswer: C",  # correct (final line) -> 1
        "<answer>A, D</answer>",  # several letters -> invalid, 0
    ]
    scores, valid = [], []
    for index, text in enumerate(answers):
        judgment = answer(text, index).unwrapped.judgments["character"]
        scores.append(judgment.score)
        valid.append(judgment.dims["valid"])
    assert scores == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert valid == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert sum(scores) / len(scores) == 0.4


def test_a_judge_failure_is_an_error_never_a_score():
    with pytest.warns(RuntimeWarning, match="judge failed"):
        env = answer("<answer>B</answer>", judge=FailingJudge())
    assert env.unwrapped.status == "judge_error"
    assert env.infos["character"]["score"] is None and env.unwrapped.judgments["character"].score is None
    assert env.infos["character"]["judge_error"].startswith("judge call timed out")


# -- observations -------------------------------------------------------------------------------------
def observation(row=ROW, seed=0, **kwargs):
    env = osim_env.make("soul/lifechoices-v0", scenario=row, **kwargs)
    env.reset(seed=seed)
    return env, env.observe("character")["messages"]


def test_observation_is_the_character_profile_scenario_question_and_options():
    _, messages = observation()
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].startswith("You are Tamsin Hale from the book Lanterns over Vell.")
    user = messages[1]["content"]
    assert user.startswith("## Profile\nName: Tamsin Hale\nBook: Lanterns over Vell\n\nYour memories:\n")
    assert ROW["input_text"] in user and "omitted" not in user
    assert "## Scenario\nThe ferry company offers Tamsin" in user
    assert "## Options\nA. Take the job and testify\nB. Refuse and stay with the crew\n" in user
    assert user.endswith("inside the answer tag, for example <answer>A</answer>.")
    # the gold is never shown: neither "Correct Answer" nor the gold letter on its own
    assert "Correct Answer" not in json.dumps(messages) and "gold" not in json.dumps(messages).lower()
    assert observation(seed=9)[1] == messages


def test_max_context_chars_cuts_the_middle_of_the_biography_only():
    row = with_biography(ROW, LONG_BIO)
    _, full = observation(row)
    _, cut = observation(row, max_context_chars=1000)
    assert len(LONG_BIO) > 60_000 and LONG_BIO in full[1]["content"]
    assert cut[0] == full[0]  # the system prompt (instructions) is never cut
    user = cut[1]["content"]
    omitted = len(LONG_BIO) - 1000
    marker = f"\n\n[... {omitted} characters of the biography omitted ...]\n\n"
    assert f"Your memories:\n{LONG_BIO[:500]}{marker}{LONG_BIO[-500:]}\n\n## Scenario\n" in user
    assert user.count("START") == 1 and user.count("END") == 1
    # everything after the biography is the same as without the cut
    assert user.split("## Scenario")[1] == full[1]["content"].split("## Scenario")[1]
    assert user.split("Your memories:")[0] == full[1]["content"].split("Your memories:")[0]
    # a biography within the limit is left alone
    assert observation(max_context_chars=len(ROW["input_text"]))[1] == observation()[1]


def test_cut_middle_keeps_exactly_max_chars_of_the_text():
    assert cut_middle("abcdefghij", None) == "abcdefghij"
    assert cut_middle("abcdefghij", 10) == "abcdefghij"
    assert cut_middle("abcdefghij", 5) == "abc\n\n[... 5 characters of the biography omitted ...]\n\nij"
    assert cut_middle("abcdefghij", 1) == "a\n\n[... 9 characters of the biography omitted ...]\n\n"


@pytest.mark.parametrize("bad", [0, -3, 1.5, "800", True])
def test_max_context_chars_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="max_context_chars"):
        osim_env.make("soul/lifechoices-v0", max_context_chars=bad)


def test_unknown_options_raise():
    with pytest.raises(TypeError, match="unknown options"):
        osim_env.make("soul/lifechoices-v0", judge_model="tiny")


def test_a_refined_rollout_renders_the_same_cut_biography_and_replays():
    row = with_biography(ROW, LONG_BIO)
    env, draft = observation(row, max_context_chars=2000)
    raw = env.unwrapped
    raw.reset(seed=raw.component_seed("refined"), options={"feedback": "Remember how you kept Harl's crew."})
    refined = env.observe("character")["messages"]
    assert refined[1] == draft[1]  # the same cut biography and the same instructions
    assert refined[0]["content"].startswith(draft[0]["content"])
    assert refined[0]["content"].endswith(
        "## Feedback from a previous attempt\nRemember how you kept Harl's crew."
    )
    assert raw.messages_for("character", with_feedback=False) == draft
    digests = {len(raw.log): observation_digest(env.observe("character"))}  # after the feedback event
    env.step("<answer>B</answer>")
    record = raw.episode_record()
    assert record.options == {"max_turns": 1, "max_context_chars": 2000}
    report = replay_record(record, digests)
    assert report.ok and report.observations_checked == 1, str(report)


# -- feedback -----------------------------------------------------------------------------------------
def feedback_answer(text: str) -> str:
    return json.dumps(
        {"critiques": {"character_fidelity": "missed loyalty"}, "reflection": "Loyalty.", "feedback": text}
    )


def wrong_draft(row=ROW, **kwargs):
    env = answer("A desk is safer. <answer>A</answer>", row, **kwargs)
    return env.unwrapped.episode_record(), env.unwrapped.judgments["character"]


def test_feedback_prompt_carries_the_same_cut_biography_the_draft_and_the_gold():
    record, judgment = wrong_draft(with_biography(ROW, LONG_BIO), max_context_chars=1000)
    prompt = feedback_prompt(record, judgment)[-1]["content"]
    assert f"## Biography\n{cut_middle(LONG_BIO, 1000)}\n\n## Scenario" in prompt
    assert "## Gold answer (for you only)\nB. Refuse and stay with the crew" in prompt
    assert "## The student's attempt (wrong; answered A, gold B)\nA desk is safer." in prompt
    record, judgment = wrong_draft()
    model = FakeJudgeModel([feedback_answer("You once lost a season's pay rather than betray a crewmate.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique.startswith("You once lost")
    assert model.requests[0].json_schema is not None


@pytest.mark.parametrize(
    "leak",
    [
        "The answer is B.",
        "Pick option B next time.",
        "(b) fits you.",
        "You would refuse and stay with the crew.",
    ],
)
def test_feedback_naming_the_gold_letter_or_text_is_regenerated_once_then_dropped(leak):
    record, judgment = wrong_draft()
    model = FakeJudgeModel([feedback_answer(leak), feedback_answer(leak)])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error and len(model.requests) == 2
    model = FakeJudgeModel([feedback_answer(leak), feedback_answer("Think of Harl Fenn and the garden.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == "Think of Harl Fenn and the garden."


# -- the command line and replay ---------------------------------------------------------------------
def test_scripted_run_with_a_cut_biography_is_stored_and_replays_exactly(tmp_path, capsys):
    answers = ["<think>Loyal.</think><answer>B</answer>", "no letter", "<answer>A or C</answer>"]
    store = scripted_run(
        "soul/lifechoices-v0", tmp_path, answers, episodes=6, options=["max_context_chars=300"]
    )
    assert "6 episodes run" in capsys.readouterr().out
    episodes = replayed_episodes(store)
    assert len(episodes) == 6 and set(episodes["status"]) == {"ok"}
    assert all(json.loads(options)["max_context_chars"] == 300 for options in episodes["options"])
    assert main(["replay", "check", "--store", str(store)]) == 0


def test_tiny_policy_run_and_replay_check(tmp_path, tiny_model_dir, capsys):
    store = tmp_path / "tiny.duckdb"
    code = main(
        ["run", "soul/lifechoices-v0", "--policy", "tiny", "--episodes", "3", "--store", str(store),
         "--no-progress"]
    )  # fmt: skip
    assert code == 0 and "3 episodes run" in capsys.readouterr().out
    assert main(["replay", "check", "--store", str(store)]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3
