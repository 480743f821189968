"""FanToM (soul/fantom-v0): rows, actions, the four scoring families, observations, replay, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from judges_fakes import record_with_turns
from testing_judges import FailingJudge

import osim_env
from judges.rules import TokenF1Judge
from osim.cli import main
from osim.runner import Runner, jobs_for
from osim_env.data import RowError, load_rows, task_fields, to_scenario
from policies import ScriptedPolicy
from replays import ReplayStore, replay_stored
from scenarios import fantom
from scenarios.fantom.judge import FanToMJudge, binary_verdict, list_verdict, named, polarity
from scenarios.fantom.prompts import question_prompt
from scenarios.fantom.schema import DATA_SOURCE, FanToMRow

FIXTURE = Path("scenarios/fantom/data/fixture.jsonl")
LINES = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
MC, LIST, BINARY_NO, FACT, BINARY_YES = 0, 1, 2, 3, 4
MC_ROW = LINES[MC]["extra_info"]


def answer(text: str, scenario: object = MC):
    env = osim_env.make("soul/fantom-v0", scenario=scenario)
    env.reset(seed=0)
    env.step(text)
    return env


def judgment_of(text: str, scenario: object = MC):
    return answer(text, scenario).unwrapped.judgments["answerer"]


# -- rows -------------------------------------------------------------------------------------------
def test_fixture_rows_cover_every_question_family():
    rows = fantom.load(FIXTURE)
    assert len(rows) == 5
    assert [s.row.family for s in rows] == ["multiple_choice", "list", "binary", "fact", "binary"]
    assert rows[0].scenario_id == "fantom-fx-0" and rows[0].row.gold_letter == "A"
    assert rows[0].row.options == [
        "Mara believes the original night still holds.",
        "Mara believes the gig was moved to Sunday.",
    ]
    assert rows[1].row.correct_answer == ["Priya", "Tomas"] and rows[1].row.wrong_answer == ["Lena"]
    assert rows[3].row.correct_answer == "about four hours"


def test_aliases_and_encodings_are_normalized():
    bare = LINES[BINARY_NO]
    assert "question" in bare and "complete_question" not in bare
    row = to_scenario(bare, FanToMRow, DATA_SOURCE).row
    assert row.complete_question.startswith("Does Ama know") and row.correct_answer == "no"  # no:long
    dumped = row.model_dump(mode="json")
    assert "complete_question" in dumped and "question" not in dumped
    assert FanToMRow.model_validate(dumped) == row
    listed = FanToMRow.model_validate(
        {**LINES[LIST]["extra_info"], "correct_answer": "['Priya', 'Tomas']", "wrong_answer": "Lena"}
    )
    assert listed.correct_answer == ["Priya", "Tomas"] and listed.wrong_answer == ["Lena"]
    assert FanToMRow.model_validate({**MC_ROW, "correct_answer": "1"}).gold_letter == "B"
    aliased = {**MC_ROW, "question": MC_ROW["complete_question"]}
    del aliased["complete_question"]
    assert FanToMRow.model_validate(aliased).options == FanToMRow.model_validate(MC_ROW).options


def test_bare_rows_with_their_own_extra_info_field_load(tmp_path):
    # FanToM rows have an extra_info *string* field; only a dict extra_info (or a data_source) marks
    # the published layout, so these bare rows are read as they are.
    empty, filled = dict(LINES[BINARY_YES]), dict(LINES[BINARY_NO])
    assert empty["extra_info"] == "" and filled["extra_info"].startswith("Ama and Sol")
    fields, _ = task_fields(filled, DATA_SOURCE)
    assert fields == filled
    path = tmp_path / "bare.jsonl"
    path.write_text(json.dumps(empty) + "\n" + json.dumps(filled) + "\n")
    rows = fantom.load(path)
    assert [s.row.extra_info for s in rows] == ["", filled["extra_info"]]
    # The published layout is still unwrapped, also with a JSON-encoded extra_info next to data_source.
    published = {"data_source": "fantom", "extra_info": json.dumps({**filled, "index": "p0"})}
    fields, index = task_fields(published, DATA_SOURCE)
    assert index == "p0" and fields["extra_info"] == filled["extra_info"]
    assert task_fields({"extra_info": {"context": "x"}}, DATA_SOURCE)[0] == {"context": "x"}
    # A dict row passed to make() takes the same path.
    env = osim_env.make("soul/fantom-v0", scenario=filled)
    env.reset(seed=0)
    assert "## Extra Information\nAma and Sol" in env.observe("answerer")["messages"][0]["content"]


def test_published_parquet_layout(tmp_path):
    # A Parquet struct column needs one type per field: the gold is string-encoded, as published.
    def published(row: dict, index: str) -> dict:
        fields = {
            "index": index,
            "context": row["context"],
            "complete_question": row.get("complete_question") or row["question"],
            "question_type": row["question_type"],
            "correct_answer": row["correct_answer"]
            if isinstance(row["correct_answer"], str)
            else json.dumps(row["correct_answer"]),
            "wrong_answer": json.dumps(row.get("wrong_answer") or ""),
            "extra_info": row.get("extra_info", ""),
        }
        return {
            "data_source": "fantom",
            "extra_info": fields,
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": "?"},
        }

    rows = [LINES[MC]["extra_info"], LINES[LIST]["extra_info"], LINES[BINARY_NO], LINES[FACT]["extra_info"]]
    table = pa.Table.from_pylist([published(r, f"q{i}") for i, r in enumerate(rows)])
    pq.write_table(table, tmp_path / "fantom.parquet")
    loaded = fantom.load(tmp_path / "fantom.parquet")
    assert [s.scenario_id for s in loaded] == ["q0", "q1", "q2", "q3"]
    assert loaded[0].row.gold_letter == "A" and loaded[1].row.correct_answer == ["Priya", "Tomas"]
    assert loaded[1].row.wrong_answer == ["Lena"] and loaded[2].row.correct_answer == "no"
    assert loaded[2].row.extra_info.startswith("Ama and Sol") and loaded[3].row.family == "fact"


BAD_ROWS = [
    ({**MC_ROW, "question_type": "tom:belief:multiple-choice"}, "question_type", "unknown question_type"),
    ({**MC_ROW, "correct_answer": 2}, "correct_answer", "out of range for 2 options"),
    ({**MC_ROW, "correct_answer": "a"}, "correct_answer", "must be an option index"),
    ({**MC_ROW, "complete_question": "What does Mara believe?"}, "correct_answer", "found 0"),
    ({**LINES[LIST]["extra_info"], "correct_answer": []}, "correct_answer", "at least one name"),
    ({**LINES[LIST]["extra_info"], "wrong_answer": ["tomas"]}, "wrong_answer", "in both"),
    ({**LINES[BINARY_YES], "correct_answer": "maybe"}, "correct_answer", "yes, no or no:long"),
    ({**LINES[FACT]["extra_info"], "correct_answer": " "}, "correct_answer", "non-empty text"),
    ({**MC_ROW, "context": ""}, "context", "at least 1 character"),
    ({"data_source": "hitom", "extra_info": MC_ROW}, "data_source", "expected 'fantom'"),
]


@pytest.mark.parametrize(
    ("bad", "field", "message"), BAD_ROWS, ids=[b[1] + str(i) for i, b in enumerate(BAD_ROWS)]
)
def test_malformed_row_raises_row_error_with_file_row_and_field(tmp_path, bad, field, message):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(LINES[MC]) + "\n" + json.dumps(bad) + "\n" + json.dumps(LINES[FACT]) + "\n")
    with pytest.raises(RowError) as info:
        fantom.load(path)
    error = info.value
    assert error.file == str(path) and error.row == 1 and error.field == field
    assert message in str(error)
    assert len(fantom.load(path, on_invalid="skip")) == 2
    scenarios, skipped = load_rows(path, FanToMRow, DATA_SOURCE, on_invalid="skip")
    assert len(scenarios) == 2 and skipped == 1


# -- actions ----------------------------------------------------------------------------------------
ACTIONS = [
    (MC, "Mara left before the change. <answer>a</answer>", "message", "A"),
    (MC, "<answer>(B)</answer>", "message", "B"),
    (MC, "reasoning\nFinal answer: (a)", "message", "A"),
    (MC, "<think><answer>b</answer></think><answer>a</answer>", "message", "A"),
    (MC, "I'd say (a) fits", "invalid_action", "no answer found"),
    (MC, "<answer>a or b</answer>", "invalid_action", "more than one letter"),
    (MC, "<answer>c</answer>", "invalid_action", "letter out of range"),
    (LIST, "<answer>Priya, Tomas</answer>", "message", "Priya, Tomas"),
    (LIST, "Priya, Tomas", "invalid_action", "no answer found"),
    (LIST, "<answer> </answer>", "invalid_action", "no answer found"),
    (BINARY_NO, "<answer>no</answer>", "message", "no"),
    (BINARY_NO, "No.", "invalid_action", "no answer found"),
    (FACT, "<answer>about four hours</answer>", "message", "about four hours"),
    (FACT, "about four hours", "invalid_action", "no answer found"),
    (FACT, "<think>four hours</think>", "invalid_action", "empty after removing thinking"),
    (FACT, "", "invalid_action", "no answer found"),
]


@pytest.mark.parametrize(("scenario", "text", "kind", "value"), ACTIONS)
def test_action_table(scenario, text, kind, value):
    env = answer(text, scenario)
    event = env.unwrapped.log[0]
    assert event.kind == kind and event.payload["raw"] == text
    if kind == "message":
        assert event.payload["answer"] == value
        assert env.infos["answerer"]["termination"] == "answered"
    else:
        assert event.payload["reason"] == value and env.infos["answerer"]["invalid_reason"] == value
        assert env.infos["answerer"]["termination"] == "invalid answer"
    assert all(env.terminations.values()) and env.unwrapped.status == "ok"


# -- the metric -------------------------------------------------------------------------------------
# Hand-written answers against the fixture, with the score each must get.
SCRIPT = [
    (MC, "Mara left before Jun told Oskar. <answer>a</answer>", 1.0),
    (MC, "<answer>b</answer>", 0.0),
    (MC, "Mara thinks the original night holds.", 0.0),  # no tag: invalid
    (LIST, "<answer>Priya and Tomas</answer>", 1.0),
    (LIST, "<answer>tomas, PRIYA</answer>", 1.0),
    (LIST, "<answer>Priya</answer>", 0.0),  # a gold name missing
    (LIST, "<answer>Priya, Tomas, Lena</answer>", 0.0),  # a wrong name
    (LIST, "<answer>Priyanka, Tomas</answer>", 0.0),  # not the whole word
    (BINARY_NO, "Ama joined after Ravi left. <answer>No</answer>", 1.0),
    (BINARY_NO, "<answer>Ama does not know.</answer>", 1.0),
    (BINARY_NO, "<answer>yes</answer>", 0.0),
    (BINARY_NO, "<answer>Ama knows</answer>", 0.0),
    (BINARY_NO, "<answer>yes and no</answer>", 0.0),  # hedging
    (BINARY_NO, "<answer>maybe</answer>", 0.0),  # no polarity
    (BINARY_YES, "<answer>Yes, Yara knows.</answer>", 1.0),
    (BINARY_YES, "<answer>True</answer>", 1.0),
    (BINARY_YES, "<answer>Yara doesn't know</answer>", 0.0),
    (FACT, "<answer>about four hours</answer>", 1.0),
    # [four, hours] vs [about, four, hours]: P = 1, R = 2/3, F1 = 0.8
    (FACT, "<answer>Four hours.</answer>", 0.8),
    # 9 tokens, 3 shared: P = 1/3, R = 1, F1 = 0.5
    (FACT, "<answer>It took about four hours and two more down</answer>", 0.5),
    (FACT, "<answer>Saturday</answer>", 0.0),
    (FACT, "It took about four hours.", 0.0),  # no tag: invalid, not scored as text
]


@pytest.mark.parametrize(("scenario", "text", "score"), SCRIPT)
def test_hand_written_answers_get_their_exact_score(scenario, text, score):
    env = answer(text, scenario)
    judgment = env.unwrapped.judgments["answerer"]
    assert judgment.error is None and judgment.score == pytest.approx(score)
    assert env.rewards == {"answerer": pytest.approx(score)}


def test_accuracy_over_the_script_is_the_mean_of_the_hand_computed_scores():
    scores = [judgment_of(text, scenario).score for scenario, text, _ in SCRIPT]
    # eight answers score 1, the two partial fact answers 0.8 and 0.5, the other twelve 0
    assert len(SCRIPT) == 22 and sum(score == 1.0 for *_, score in SCRIPT) == 8
    assert sum(scores) / len(scores) == pytest.approx((8 * 1.0 + 0.8 + 0.5) / 22)


def test_dims_per_family_and_breakdown_by_question_type():
    mc = judgment_of("<answer>a</answer>")
    assert mc.dims == {
        "valid": 1.0,
        "correct": 1.0,
        "family.multiple_choice": 1.0,
        "type.tom:belief:inaccessible:multiple-choice": 1.0,
    }
    assert mc.reasons["answer"] == "answered A, gold A" and mc.judge == {"kind": "fantom", "max_words": 300}
    listed = judgment_of("<answer>Priya, Lena</answer>", LIST)
    assert listed.dims["correct"] == 0.0 and listed.dims["type.tom:answerability:list"] == 0.0
    assert listed.reasons["answer"] == "missing ['Tomas'], wrong names ['Lena']"
    binary = judgment_of("<answer>yes and no</answer>", BINARY_NO)
    assert binary.reasons["answer"] == "answered both, gold no" and binary.dims["family.binary"] == 0.0
    fact = judgment_of("<answer>four hours</answer>", FACT)
    assert fact.dims == pytest.approx({"valid": 1.0, "f1": 0.8, "family.fact": 0.8, "type.fact": 0.8})


@pytest.mark.parametrize("scenario", [MC, LIST, BINARY_NO, FACT])
def test_missing_answer_tag_is_invalid_with_its_reason_for_every_family(scenario):
    env = answer("I think it is clear from the conversation.", scenario)
    judgment = env.unwrapped.judgments["answerer"]
    assert judgment.score == 0.0 and judgment.error is None
    assert judgment.dims["valid"] == 0.0 and judgment.reasons["answer"] == "no answer found"
    family = env.unwrapped.row.family
    assert judgment.dims[f"family.{family}"] == 0.0
    assert env.unwrapped.log[0].kind == "invalid_action"


def test_token_f1_judge_no_longer_falls_back_to_the_whole_text():
    # The old TokenF1Judge scored the whole output when there was no tag: this answer would get 1.0.
    record = record_with_turns(
        [("answerer", "cat sat down")],
        {"gold": "cat sat down"},
        agents=["answerer"],
        policy_agents=["answerer"],
    )
    judgment = TokenF1Judge("gold").judge_episode(record)["answerer"]
    assert judgment.score == 0.0 and judgment.dims == {"valid": 0.0, "f1": 0.0}
    assert judgment.reasons["answer"] == "no answer found"
    tagged = record_with_turns(
        [("answerer", "<answer>cat sat down</answer>")],
        {"gold": "cat sat down"},
        agents=["answerer"],
        policy_agents=["answerer"],
    )
    assert TokenF1Judge("gold").judge_episode(tagged)["answerer"].score == 1.0


def test_matching_helpers_by_hand():
    assert named("Priya's cat", "Priya") and not named("Priyanka", "Priya") and named("mara  JUN", "Mara Jun")
    assert list_verdict("Priya and Tomas", ["Priya", "Tomas"], ["Lena"]) == (
        True,
        "named every gold name and no wrong name",
    )
    assert polarity("No, false") == (False, True) and polarity("true") == (True, False)
    assert polarity("she doesn’t know") == (False, True) and polarity("unknown") == (False, False)
    assert binary_verdict("Nope", "no") == (False, "answered neither, gold no")


def test_length_is_reported_never_scored():
    long = "word " * 301 + "<answer>a</answer>"
    judgment = judgment_of(long)
    assert judgment.score == 1.0 and judgment.flags["length"]["flagged"] is True
    assert judgment.flags["length"]["evidence"] == ["turn 0: 302 words > cap 300"]
    assert judgment_of("<answer>a</answer>").flags["length"]["flagged"] is False


def test_judge_failure_is_an_error_never_a_score():
    # A stored episode whose row no longer validates cannot be scored: an error, not a 0.
    record = answer("<answer>a</answer>").unwrapped.episode_record()
    broken = record.model_copy(update={"scenario": {**record.scenario, "question_type": "tom:unknown"}})
    judgment = FanToMJudge().judge_episode(broken)["answerer"]
    assert judgment.score is None and "not a FanToM row" in (judgment.error or "")
    # A failing judge leaves the episode judge_error with no score.
    env = osim_env.make("soul/fantom-v0", scenario=MC, judge=FailingJudge())
    env.reset(seed=0)
    with pytest.warns(RuntimeWarning, match="the judge failed"):
        env.step("<answer>a</answer>")
    assert env.unwrapped.status == "judge_error" and env.rewards == {"answerer": 0.0}
    assert env.unwrapped.judgments["answerer"].score is None and env.infos["answerer"]["score"] is None
    assert "timed out" in env.infos["answerer"]["judge_error"]


# -- observations -----------------------------------------------------------------------------------
def test_observation_is_one_user_message_with_context_question_and_format():
    env = osim_env.make("soul/fantom-v0", scenario=MC)
    env.reset(seed=0)
    messages = env.observe("answerer")["messages"]
    assert len(messages) == 1 and messages[0]["role"] == "user"
    content = messages[0]["content"]
    assert content == (
        "Read the conversation and answer the question about it. People join and leave the conversation: "
        "a character knows only what was said while they were present, or what someone told them later."
        f"\n\n## Context\n{MC_ROW['context']}\n\n## Question\n{MC_ROW['complete_question']}\n\n"
        "Think step by step, then give the letter of your choice inside the answer tag, for example "
        "<answer>a</answer>."
    )
    assert "Extra Information" not in content


@pytest.mark.parametrize(
    ("scenario", "instruction"),
    [
        (LIST, "give the names, separated by commas"),
        (BINARY_NO, "answer yes or no inside the answer tag"),
        (FACT, "give a short answer inside the answer tag"),
    ],
)
def test_each_family_is_told_what_the_tag_holds_and_never_sees_gold_or_metadata(scenario, instruction):
    row = fantom.load(FIXTURE)[scenario].row
    content = question_prompt(row)
    assert instruction in content and row.context in content and row.complete_question in content
    hidden = ("correct_answer", "wrong_answer", "question_type", "tom_type", "set_id", "no:long")
    assert not [h for h in (*hidden, "inaccessible") if h in content]
    assert row.question_type not in content


def test_the_answerer_sees_its_own_answer_after_acting():
    env = osim_env.make("soul/fantom-v0", scenario=LIST)
    env.reset(seed=0)
    env.step("<think>Lena came later.</think><answer>Priya, Tomas</answer>")
    messages = env.unwrapped.observe("answerer")["messages"]
    assert messages[-1]["role"] == "assistant"
    assert "Lena came later" in messages[-1]["content"]  # its own raw action, thinking included
    assert env.unwrapped.log[0].payload["thinking"] == "Lena came later."


# -- replay and the command line --------------------------------------------------------------------
def test_stored_episodes_replay_exactly(tmp_path):
    path = tmp_path / "fantom.duckdb"
    policy = ScriptedPolicy(
        [
            "<answer>a</answer>",
            "<think>who was there?</think><answer>Priya, Tomas</answer>",
            "no tag at all",
            "<answer>four hours</answer>",
            "<answer>yes</answer>",
        ],
        name="script",
    )
    runner = Runner(path, policy=policy, progress=False)
    summary = runner.run(jobs_for("soul/fantom-v0", 5, seed=0, scenarios=[0, 1, 2, 3, 4]))
    assert summary.ok == 5, summary.failures
    with ReplayStore(path) as store:
        episodes = store.episodes(runner.run_id)
        assert sorted(episodes["score"]) == pytest.approx([0.0, 0.8, 1.0, 1.0, 1.0])
        for row in episodes.itertuples():
            assert replay_stored(store, row.episode_id, runner.run_id).ok


def test_cli_runs_three_episodes_on_the_tiny_model_and_replays_them(tmp_path, tiny_model_dir, capsys):
    store = tmp_path / "cli.duckdb"
    run = ["run", "soul/fantom-v0", "--policy", "tiny", "--episodes", "3", "--store", str(store)]
    code = main([*run, "--no-progress"])
    assert code == 0, capsys.readouterr()
    with ReplayStore(store, read_only=True) as s:
        episodes = s.episodes()
        assert len(episodes) == 3 and set(episodes["status"]) == {"ok"}
    capsys.readouterr()
    assert main(["replay", "check", "--store", str(store)]) == 0
    assert capsys.readouterr().out.count(": reproduced exactly") == 3
