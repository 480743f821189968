"""soul/mistakes-v0: the student picks the option a student with the stated misconception would."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from task_runs import replayed_episodes, scripted_run
from testing_judges import FailingJudge

import osim_env
from osim.cli import main
from osim_env.data import RowError
from replays import ReplayStore
from scenarios import mistakes
from scenarios.mistakes.judge import MistakesJudge
from scenarios.mistakes.schema import MistakesRow

FIXTURE = Path("scenarios/mistakes/data/fixture.jsonl")
LINES = FIXTURE.read_text(encoding="utf-8").splitlines()
ROW = json.loads(LINES[0])["extra_info"]  # options A-D, target B
ROW_NO_C = json.loads(LINES[1])["extra_info"]  # option C is empty, target A


def answer(text: str, scenario=0, **kw):
    env = osim_env.make("soul/mistakes-v0", scenario=scenario, **kw)
    env.reset(seed=0)
    env.step(text)
    return env


# -- metric: hand-written answers against the fixture with known targets ---------------------------
@pytest.mark.parametrize(
    ("index", "text", "score", "dims"),
    [
        (0, "7 is the cut-off, 6 is below it so I keep 3.4 <answer>B</answer>", 1.0, {"correct": 1.0}),
        (0, "<answer>A</answer>", 0.0, {"correct": 0.0}),
        (0, "I would go with\nAnswer: (b)", 1.0, {"correct": 1.0}),
        (1, "add the tops, add the bottoms <answer>A</answer>", 1.0, {"correct": 1.0}),
        (1, "<answer>D</answer>", 0.0, {"correct": 0.0}),
        (1, "<answer>C</answer>", 0.0, {"valid": 0.0}),  # C is empty: out of range
        (2, "more digits means bigger\n**D**", 1.0, {"correct": 1.0}),
        (2, "<answer>A</answer>", 0.0, {"correct": 0.0}),
        (3, "5 + 2 is 7, then 7 x 4 <answer>C</answer>", 1.0, {"correct": 1.0}),
        (3, "<answer>A</answer>", 0.0, {"correct": 0.0}),
        (4, "4 + 6 + 4 + 6 <answer>B</answer>", 1.0, {"correct": 1.0}),
        (4, "<answer>D</answer>", 0.0, {"valid": 0.0}),  # D is empty (null in the fixture)
        (4, "<answer>E</answer>", 0.0, {"valid": 0.0}),
        (4, "I'd say B", 0.0, {"valid": 0.0}),
    ],
)
def test_hand_written_answers_get_exactly_the_expected_scores(index, text, score, dims):
    env = answer(text, index)
    assert env.rewards == {"student": score}
    judgment = env.unwrapped.judgments["student"]
    assert judgment.score == score and judgment.error is None
    assert {k: judgment.dims[k] for k in dims} == dims
    assert judgment.dims["valid"] == (0.0 if "valid" in dims else 1.0)
    assert env.unwrapped.status == "ok"


def test_accuracy_over_the_fixture_with_a_mixed_answer_sheet():
    sheet = ["<answer>B</answer>", "<answer>C</answer>", "<answer>D</answer>", "<answer>A</answer>", "B"]
    scores = [answer(text, i).rewards["student"] for i, text in enumerate(sheet)]
    assert scores == [1.0, 0.0, 1.0, 0.0, 1.0]


# -- actions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scenario", "text", "kind", "result"),
    [
        (0, "<answer>b</answer>", "message", "B"),
        (0, "<answer>A</answer> no wait <answer>B</answer>", "message", "B"),
        (0, "<think><answer>A</answer></think><answer>C</answer>", "message", "C"),
        (0, "reasoning\n(d)", "message", "D"),
        (0, "reasoning\nThe answer is B", "invalid_action", "no answer found"),
        (0, "<answer>3.4</answer>", "invalid_action", "no answer found"),
        (0, "<answer>A or B</answer>", "invalid_action", "more than one letter"),
        (0, "<answer>E</answer>", "invalid_action", "letter out of range"),
        (0, "<think>B</think>", "invalid_action", "empty after removing thinking"),
        (0, "", "invalid_action", "no answer found"),
        (1, "<answer>D</answer>", "message", "D"),
        (1, "<answer>c</answer>", "invalid_action", "letter out of range"),
        (1, "working\nC", "invalid_action", "letter out of range"),
        (1, "<answer>3/7</answer>", "invalid_action", "no answer found"),
        (1, "add the tops, add the bottoms <answer>A</answer>", "message", "A"),
    ],
)
def test_actions_table(scenario, text, kind, result):
    env = answer(text, scenario)
    event = env.unwrapped.log[0]
    assert event.kind == kind and event.payload["raw"] == text
    if kind == "message":
        assert event.payload["answer"] == result
        assert env.infos["student"]["termination"] == "answered"
    else:
        assert event.payload["reason"] == result and event.visibility == ("student",)
        assert env.infos["student"]["termination"] == "invalid answer"
        assert env.unwrapped.judgments["student"].reasons["answer"] == result
    assert all(env.terminations.values()) and not any(env.truncations.values())


# -- judge failures are errors, never scores -------------------------------------------------------
def test_a_failing_judge_is_an_error_not_a_score():
    with pytest.warns(RuntimeWarning, match="judge"):
        env = answer("<answer>B</answer>", 0, judge=FailingJudge())
    assert env.unwrapped.status == "judge_error"
    assert env.infos["student"]["score"] is None and "timed out" in env.infos["student"]["judge_error"]
    assert env.rewards == {"student": 0.0}


def test_the_rule_judge_fails_on_a_record_whose_row_does_not_validate():
    env = answer("<answer>B</answer>", 0, judge=False)
    record = env.unwrapped.episode_record()
    broken = record.model_copy(
        update={"scenario": {**record.scenario, "TargetOption": "C", "AnswerCText": ""}}
    )
    judgment = MistakesJudge().judge_episode(broken)["student"]
    assert judgment.score is None and "not a Mistakes row" in judgment.error
    assert MistakesJudge().judge_episode(record)["student"].score == 1.0


# -- observations ----------------------------------------------------------------------------------
def observation(scenario, seed: int = 0):
    env = osim_env.make("soul/mistakes-v0", scenario=scenario)
    env.reset(seed=seed)
    return env.observe("student")["messages"]


def test_observation_is_the_student_instructions_then_question_options_and_misconception():
    system, user = observation(0)
    assert system["role"] == "system" and user["role"] == "user"
    assert "student" in system["content"] and "Do not give the correct answer" in system["content"]
    assert "closest" in system["content"] and "<answer>A</answer>" in system["content"]
    content = user["content"]
    assert ROW["QuestionText"] in content and ROW["MisconceptionName"] in content
    assert "A. 3.5\nB. 3.4\nC. 3.46\nD. 4" in content


def test_empty_options_are_omitted_and_the_others_keep_their_letters():
    content = observation(1)[1]["content"]
    assert "A. 3/7\nB. 11/12\nD. 3/12" in content and "\nC." not in content
    content = observation(4)[1]["content"]
    assert "C. 10 cm²\n\n" in content and "\nD." not in content and "None" not in content


def test_the_target_is_never_shown():
    moved = {**ROW, "TargetOption": "C", "TargetAnswer": "3.46", "MisconceptionId": 1, "QuestionId": 2}
    assert observation(ROW) == observation(moved)  # the target does not change what the student sees
    text = json.dumps(observation(ROW))
    assert "TargetOption" not in text and "target" not in text.lower() and "9001" not in text


def test_seeds_give_identical_observations_and_feedback_stays_out_of_the_plain_prompt():
    assert observation(None, seed=3) == observation(None, seed=3)
    env = osim_env.make("soul/mistakes-v0", scenario=0)
    env.reset(seed=0, options={"feedback": "Apply the seven rule to the hundredths digit."})
    raw = env.unwrapped
    assert "seven rule" in raw.messages_for("student")[0]["content"]
    assert "seven rule" not in json.dumps(raw.messages_for("student", with_feedback=False))
    assert raw.messages_for("student", with_feedback=False) == observation(0)


# -- rows ------------------------------------------------------------------------------------------
def test_fixture_rows_and_aliases():
    rows = mistakes.load(FIXTURE)
    assert [s.scenario_id for s in rows] == [f"mistakes-fx-{i}" for i in range(5)]
    assert [s.row.TargetOption for s in rows] == ["B", "A", "D", "C", "B"]
    aliased = rows[2].row  # written with question / misconception_text / target_option / target_text
    assert aliased.QuestionText.startswith("Which number") and aliased.MisconceptionName.startswith("Thinks")
    assert aliased.TargetOption == "D" and aliased.TargetAnswer == "0.35"
    dumped = aliased.model_dump()
    assert "question" not in dumped and dumped["TargetOption"] == "D"
    assert list(rows[1].row.options) == ["A", "B", "D"] and rows[4].row.AnswerDText == ""
    assert rows[0].row.target_text == "3.4"


def test_published_parquet_layout(tmp_path):
    rows = [
        {
            "data_source": "mistakes",
            "extra_info": {**ROW, "index": "m0"},
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": "B"},
        },
        {
            "data_source": "mistakes",
            "extra_info": {**ROW_NO_C, "index": "m1", "MisconceptionId": 7, "QuestionId": 8},
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": "A"},
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "mistakes.parquet")
    loaded = mistakes.load(tmp_path / "mistakes.parquet")
    assert [s.scenario_id for s in loaded] == ["m0", "m1"]
    assert loaded[0].row.TargetOption == "B" and list(loaded[1].row.options) == ["A", "B", "D"]
    assert loaded[1].row.MisconceptionId == 7
    env = osim_env.make("soul/mistakes-v0", scenario=loaded[1])
    env.reset(seed=0)
    env.step("<answer>A</answer>")
    assert env.rewards == {"student": 1.0}


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({**ROW_NO_C, "TargetOption": "C"}, "TargetOption", "names option C, which is empty"),
        ({**ROW_NO_C, "TargetOption": " c "}, "TargetOption", "names option C, which is empty"),
        ({k: v for k, v in ROW.items() if k != "TargetOption"}, "TargetOption", "Field required"),
        ({**ROW, "TargetOption": "E"}, "TargetOption", "must be one of A, B, C, D"),
        ({**ROW, "AnswerBText": "", "AnswerCText": " ", "AnswerDText": ""}, "TargetOption", "at least two"),
        ({**ROW, "MisconceptionName": "  "}, "MisconceptionName", "must not be blank"),
        ({k: v for k, v in ROW.items() if k != "QuestionText"}, "QuestionText", "Field required"),
    ],
)
def test_malformed_rows_raise_row_errors_naming_file_row_and_field(tmp_path, bad, field, message):
    path = tmp_path / "mistakes.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (ROW, bad, ROW_NO_C)) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        mistakes.load(path)
    assert info.value.file == str(path) and info.value.row == 1 and info.value.field == field
    assert message in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1 invalid"):
        assert len(mistakes.load(path, on_invalid="skip")) == 2


def test_an_aliased_target_naming_an_empty_option_names_the_alias(tmp_path):
    bare = {k: v for k, v in ROW_NO_C.items() if k != "TargetOption"}
    path = tmp_path / "mistakes.jsonl"
    path.write_text(json.dumps({**bare, "target_option": "c"}) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        mistakes.load(path)
    assert info.value.field == "target_option" and "empty" in info.value.reason


def test_rows_of_another_task_are_rejected(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [{"data_source": "mistakes", "extra_info": ROW}, {"data_source": "hitom", "extra_info": ROW}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        mistakes.load(path)
    assert info.value.row == 1 and info.value.field == "data_source"


def test_missing_and_numeric_options():
    row = MistakesRow.model_validate(
        {**ROW, "AnswerAText": 4, "AnswerCText": None, "AnswerDText": float("nan")}
    )
    assert row.options == {"A": "4", "B": "3.4"}


# -- the command line and replay -------------------------------------------------------------------
def test_osim_run_with_the_tiny_model_replays_exactly(tmp_path, tiny_model_dir, capsys):
    store = tmp_path / "X.duckdb"
    code = main(
        ["run", "soul/mistakes-v0", "--policy", "tiny", "--episodes", "3", "--store", str(store),
         "--no-progress"]
    )  # fmt: skip
    assert code == 0 and "3 episodes run" in capsys.readouterr().out
    assert main(["replay", "check", "--store", str(store)]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3
    with ReplayStore(store, read_only=True) as s:
        episodes = s.episodes()
        assert len(episodes) == 3 and set(episodes["status"]) == {"ok"}
        assert episodes["score"].notna().all()


def test_a_scripted_run_stores_valid_and_invalid_answers_that_replay(tmp_path):
    episodes = replayed_episodes(
        scripted_run(
            "soul/mistakes-v0", tmp_path, ["<answer>B</answer>", "<answer>C</answer>", "no idea"], episodes=6
        )
    )
    assert len(episodes) == 6 and set(episodes["score"]) <= {0.0, 1.0}
