"""soul/socsci210-v0: predict one survey participant's answer on the question's own scale."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from task_runs import FakeFailingPolicy, replayed_episodes, scripted_run
from testing_judges import FailingJudge

import osim_env
from osim.cli import main
from osim.runner import Runner, jobs_for
from osim_env.data import RowError
from replays import ReplayStore
from scenarios import socsci210
from scenarios.socsci210.judge import (
    SocSci210Judge,
    answer_patterns,
    distributional_alignment,
    extract_prediction,
)
from scenarios.socsci210.prompts import rewrite
from scenarios.socsci210.schema import SocSci210Row

ENV_ID = "soul/socsci210-v0"

FIXTURE = Path("scenarios/socsci210/data/fixture.jsonl")
LINES = FIXTURE.read_text(encoding="utf-8").splitlines()
ORDINAL = json.loads(LINES[0])["extra_info"]  # 1..7, gold 3
BINARY = json.loads(LINES[1])["extra_info"]  # gold 1 (yes)
CATEGORICAL = json.loads(LINES[2])["extra_info"]  # 1..4, gold 2
WRAPPED = json.loads(LINES[3])["extra_info"]  # 0..10, gold 8, prompt in conversations[0].messages[0]


def answer(text: str, scenario=0, **kw):
    env = osim_env.make(ENV_ID, scenario=scenario, **kw)
    env.reset(seed=0)
    env.step(text)
    return env


# -- metric: hand-written answers against the fixture with known gold ------------------------------
@pytest.mark.parametrize(
    ("index", "text", "score", "exact"),
    [
        (0, "Republican, dislikes change <answer>5</answer>", 2 / 3, 0.0),  # 1 - |5 - 3| / 6
        (0, "<answer>3</answer>", 1.0, 1.0),
        (0, "<answer>7</answer>", 1 / 3, 0.0),
        (0, "<answer>1</answer>", 2 / 3, 0.0),
        (1, "<answer>yes</answer>", 1.0, 1.0),
        (1, "<answer> YES </answer>", 1.0, 1.0),
        (1, "<answer>1</answer>", 1.0, 1.0),
        (1, "<answer>no</answer>", 0.0, 0.0),
        (1, "<answer>0</answer>", 0.0, 0.0),
        (2, "<answer>2</answer>", 1.0, 1.0),
        (2, "<answer>3</answer>", 0.0, 0.0),  # categorical: no partial credit for a near category
        (2, "<answer>1</answer>", 0.0, 0.0),
        (3, "<answer>8</answer>", 1.0, 1.0),
        (3, "<answer>3</answer>", 0.5, 0.0),  # 1 - 5 / 10
        (3, "<answer>10</answer>", 0.8, 0.0),
        (3, "<answer>0</answer>", 0.2, 0.0),
    ],
)
def test_hand_written_answers_get_exactly_the_expected_scores(index, text, score, exact):
    env = answer(text, index)
    judgment = env.unwrapped.judgments["respondent"]
    assert env.rewards["respondent"] == pytest.approx(score, abs=1e-12)
    assert judgment.score == pytest.approx(score, abs=1e-12) and judgment.error is None
    assert judgment.dims["valid"] == 1.0 and judgment.dims["exact"] == exact
    assert judgment.dims["gold"] == [3.0, 1.0, 2.0, 8.0][index]
    assert env.unwrapped.status == "ok"


def test_the_worked_example_of_the_docs():
    judgment = answer("<answer>5</answer>", 0).unwrapped.judgments["respondent"]
    assert round(judgment.score, 3) == 0.667 and judgment.dims["pred"] == 5.0
    assert judgment.reasons["answer"] == "answered 5, gold 3 on 1..7"


@pytest.mark.parametrize(
    ("index", "text", "reason"),
    [
        (0, "<answer>8</answer>", "out of range"),
        (0, "<answer>0</answer>", "out of range"),
        (0, "<answer>4.5</answer>", "not an integer"),
        (0, "<answer>four</answer>", "not an integer"),
        (0, "<answer>3 or 4</answer>", "not an integer"),
        (0, "I think 3", "no answer found"),
        (0, "<answer></answer>", "no answer found"),
        (0, "", "no answer found"),
        (0, "<think><answer>3</answer></think>", "empty after removing thinking"),
        (1, "<answer>2</answer>", "not yes/no"),
        (1, "<answer>maybe</answer>", "not yes/no"),
        (1, "<answer>y</answer>", "not yes/no"),
        (2, "<answer>5</answer>", "out of range"),
        (2, "<answer>2.0</answer>", "not an integer"),
        (3, "<answer>-1</answer>", "out of range"),
        (3, "<answer>11</answer>", "out of range"),
    ],
)
def test_invalid_answers_score_zero_with_their_reason(index, text, reason):
    env = answer(text, index)
    judgment = env.unwrapped.judgments["respondent"]
    assert env.rewards == {"respondent": 0.0} and judgment.score == 0.0 and judgment.error is None
    assert judgment.dims["valid"] == 0.0 and "pred" not in judgment.dims
    assert judgment.reasons["answer"] == reason
    event = env.unwrapped.log[0]
    assert event.kind == "invalid_action" and event.payload["reason"] == reason
    assert event.payload["raw"] == text and event.visibility == ("respondent",)
    assert env.infos["respondent"]["termination"] == "invalid answer"


# -- actions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("index", "text", "value"),
    [
        (0, "<answer>2</answer> on reflection <answer>4</answer>", 4),  # the last tag wins
        (0, "<think><answer>7</answer></think>He is wary. <answer>2</answer>", 2),  # thinking is ignored
        (0, "<ANSWER> 6 </ANSWER>", 6),
        (1, "<answer>No</answer>", 0),
        (3, "<answer>0</answer>", 0),
    ],
)
def test_actions_table(index, text, value):
    env = answer(text, index)
    event = env.unwrapped.log[0]
    assert event.kind == "message" and event.payload["answer"] == value and event.payload["raw"] == text
    assert env.infos["respondent"]["termination"] == "answered"
    assert all(env.terminations.values()) and not any(env.truncations.values())


# -- departures from the original (docs/tasks.md#socsci210): its behaviour fails these -------------
def test_an_out_of_range_answer_is_invalid_not_clamped():
    env = answer("<answer>8</answer>", 0)
    clamped = 1 - abs(7 - 3) / 6  # the original clamps 8 to 7 and gives 0.333
    assert env.rewards["respondent"] == 0.0 != clamped
    assert env.unwrapped.judgments["respondent"].reasons["answer"] == "out of range"


def test_the_last_answer_tag_wins_not_the_first():
    env = answer("<answer>3</answer> no, he would be firmer: <answer>1</answer>", 0)
    assert env.unwrapped.judgments["respondent"].dims["pred"] == 1.0  # the original scores the 3
    assert env.rewards["respondent"] == pytest.approx(2 / 3)


def test_binary_rows_accept_only_yes_no_1_0():
    assert extract_prediction("<answer>5</answer>", SocSci210Row(**BINARY)).reason == "not yes/no"
    assert extract_prediction("<answer>-1</answer>", SocSci210Row(**BINARY)).reason == "not yes/no"


@pytest.mark.parametrize("missing", [("r_min",), ("r_max",), ("r_min", "r_max")])
def test_there_is_no_default_scale(tmp_path, missing):
    bare = {k: v for k, v in ORDINAL.items() if k not in missing}  # the original assumes 0..7
    with pytest.raises(RowError) as info:
        _load([bare], tmp_path)
    assert info.value.field == "r_max" and "no default scale" in info.value.reason


def test_a_failing_judge_is_an_error_not_a_score():
    with pytest.warns(RuntimeWarning, match="judge"):
        env = answer("<answer>3</answer>", 0, judge=FailingJudge())
    assert env.unwrapped.status == "judge_error"
    assert env.infos["respondent"]["score"] is None and "timed out" in env.infos["respondent"]["judge_error"]
    assert env.rewards == {"respondent": 0.0}


def test_the_rule_judge_fails_on_a_record_whose_row_does_not_validate():
    env = answer("<answer>3</answer>", 0, judge=False)
    record = env.unwrapped.episode_record()
    broken = record.model_copy(update={"scenario": {**record.scenario, "r_max": None}})
    judgment = SocSci210Judge().judge_episode(broken)["respondent"]
    assert judgment.score is None and "not a SocSci210 row" in judgment.error
    assert SocSci210Judge().judge_episode(record)["respondent"].score == 1.0


# -- observations ----------------------------------------------------------------------------------
def observation(scenario, seed: int = 0, **kw):
    env = osim_env.make(ENV_ID, scenario=scenario, **kw)
    env.reset(seed=seed)
    return env.observe("respondent")["messages"]


def test_observation_is_the_instructions_then_the_rewritten_prompt():
    system, user = observation(0)
    assert system["role"] == "system" and user["role"] == "user"
    assert "survey respondent" in system["content"] and "<answer>" in system["content"]
    assert user["content"].startswith("You are a 62-year-old retired man")
    assert user["content"].endswith("(strongly favor). Think step by step, and answer the number.")
    assert "Only return" not in user["content"] and "nothing else" not in user["content"]


def test_rewrite_prompt_false_shows_the_data_text_unchanged():
    assert observation(0, rewrite_prompt=False)[1]["content"] == ORDINAL["prompt_text"]
    with pytest.raises(ValueError, match="rewrite_prompt"):
        osim_env.make(ENV_ID, rewrite_prompt="yes")
    with pytest.raises(TypeError, match="unknown options"):
        osim_env.make(ENV_ID, judge_model="tiny")


@pytest.mark.parametrize(
    ("text", "rewritten"),
    [
        ("Only return the number, nothing else.", "Think step by step, and answer the number."),
        ("Only return yes or no, nothing else", "Think step by step, and answer yes or no."),
        ("Answer 1-5.", "Answer 1-5."),
    ],
)
def test_the_two_documented_rewrites(text, rewritten):
    assert rewrite(text) == rewritten


def test_the_gold_is_never_shown():
    moved = {**ORDINAL, "response": 6, "study_id": "s", "condition_id": "c", "outcome_id": "o"}
    assert observation(ORDINAL) == observation(moved)
    text = json.dumps(observation(ORDINAL))
    assert "fx-library" not in text and "response" not in text


def test_the_wrapped_prompt_is_shown_and_seeds_give_identical_observations():
    assert observation(3)[1]["content"].startswith("You are a 19-year-old college student")
    assert observation(None, seed=5) == observation(None, seed=5)


# -- rows ------------------------------------------------------------------------------------------
def _load(rows, directory: Path):
    path = directory / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return socsci210.load(path)


def test_fixture_rows_and_the_conversation_alias():
    rows = socsci210.load(FIXTURE)
    assert [s.scenario_id for s in rows] == [f"socsci210-fx-{i}" for i in range(4)]
    assert [s.row.response_type for s in rows] == ["ordinal", "binary", "categorical", "ordinal"]
    assert [s.row.scale for s in rows] == [(1, 7), (0, 1), (1, 4), (0, 10)]
    assert rows[3].row.prompt_text == WRAPPED["conversations"][0]["messages"][0]["content"]
    assert "conversations" not in rows[3].row.model_dump()


def test_published_parquet_layout_and_a_string_encoded_conversation(tmp_path):
    wrapped = {**WRAPPED, "conversations": json.dumps(WRAPPED["conversations"]), "index": "w"}
    rows = [
        {"data_source": "socsci210", "extra_info": {**ORDINAL, "index": "o", "response": 3.0}},
        {"data_source": "socsci210", "extra_info": wrapped},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "socsci210.parquet")
    loaded = socsci210.load(tmp_path / "socsci210.parquet")
    assert [s.scenario_id for s in loaded] == ["o", "w"] and loaded[0].row.response == 3
    assert loaded[1].row.prompt_text.startswith("You are a 19-year-old")
    env = osim_env.make(ENV_ID, scenario=loaded[1])
    env.reset(seed=0)
    env.step("<answer>3</answer>")
    assert env.rewards == {"respondent": 0.5}


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({**ORDINAL, "response": 8}, "response", "outside the scale 1..7"),
        ({**ORDINAL, "response": 2.5}, "response", "whole number"),
        ({**ORDINAL, "response": "three"}, "response", "whole number"),
        ({k: v for k, v in ORDINAL.items() if k != "response"}, "response", "Field required"),
        ({**ORDINAL, "r_min": 7, "r_max": 7}, "r_max", "must be greater than r_min"),
        ({**ORDINAL, "r_min": 7, "r_max": 1}, "r_max", "must be greater than r_min"),
        ({**CATEGORICAL, "r_max": None}, "r_max", "categorical rows need r_min and r_max"),
        ({**BINARY, "response": 2}, "response", "outside the scale 0..1"),
        ({**ORDINAL, "response_type": "likert"}, "response_type", "ordinal"),
        ({**ORDINAL, "prompt_text": "  "}, "prompt_text", "must not be blank"),
        ({k: v for k, v in WRAPPED.items() if k != "conversations"}, "prompt_text", "Field required"),
    ],
)
def test_malformed_rows_raise_row_errors_naming_file_row_and_field(tmp_path, bad, field, message):
    path = tmp_path / "socsci210.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (ORDINAL, bad, BINARY)) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        socsci210.load(path)
    assert info.value.file == str(path) and info.value.row == 1 and info.value.field == field
    assert message in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1 invalid"):
        assert len(socsci210.load(path, on_invalid="skip")) == 2


@pytest.mark.parametrize("source", ["socsci_210", "SocSci210", "math", "hitom"])
def test_only_the_canonical_data_source_is_accepted(tmp_path, source):
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"data_source": "socsci210", "extra_info": ORDINAL},
        {"data_source": source, "extra_info": ORDINAL},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        socsci210.load(path)
    assert info.value.row == 1 and info.value.field == "data_source"


# -- sweep-level detectors and the distributional view ---------------------------------------------
def test_central_tendency_and_constant_answers():
    ordinal, wide, even = (
        SocSci210Row(**ORDINAL),
        SocSci210Row(**WRAPPED),
        SocSci210Row(**{**ORDINAL, "r_max": 6}),
    )
    report = answer_patterns([(4, ordinal), (4, ordinal), (5, wide), (4, even)])
    assert report.n == 4 and report.midpoint_share == pytest.approx(3 / 3) and not report.constant
    assert report.most_common == 4 and report.most_common_share == 0.75
    report = answer_patterns([(2, ordinal), (2, wide), (2, ordinal)])
    assert report.constant and report.midpoint_share == 0.0 and report.most_common_share == 1.0
    assert answer_patterns([(4, even)]).midpoint_share is None and not answer_patterns([(4, even)]).constant
    assert answer_patterns([]).n == 0


def test_distributional_alignment_per_group():
    row = SocSci210Row(**ORDINAL)
    golds = [1, 3, 3, 5, 7]
    rows = [SocSci210Row(**{**ORDINAL, "response": g}) for g in golds]
    same_distribution = [(p, r) for p, r in zip([7, 5, 3, 3, 1], rows)]  # shuffled: W1 = 0
    shifted = [(min(r.response + 1, 7), r) for r in rows]  # W1 = (1 + 1 + 1 + 1 + 0) / 5
    assert distributional_alignment({("a", "c", "o"): same_distribution}) == 1.0
    assert distributional_alignment({("b", "c", "o"): shifted}) == pytest.approx(1 - 0.8 / 6)
    both = distributional_alignment({("a", "c", "o"): same_distribution, ("b", "c", "o"): shifted})
    assert both == pytest.approx((1 + 1 - 0.8 / 6) / 2)
    assert distributional_alignment({("a", "c", "o"): [(3, row)] * 4}) is None  # fewer than 5 rows


# -- the command line and replay -------------------------------------------------------------------
def test_osim_run_with_the_tiny_model_replays_exactly(tmp_path, tiny_model_dir, capsys):
    store = tmp_path / "X.duckdb"
    code = main(
        ["run", ENV_ID, "--policy", "tiny", "--episodes", "3", "--store", str(store), "--no-progress"]
    )
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
            ENV_ID,
            tmp_path,
            ["<answer>3</answer>", "<answer>9</answer>", "no idea", "<answer>yes</answer>"],
            episodes=6,
        )
    )
    assert len(episodes) == 6 and set(episodes["status"]) == {"ok"}


def test_a_failed_policy_call_fails_the_episode_instead_of_scoring_zero(tmp_path):
    runner = Runner(tmp_path / "f.duckdb", roles={"respondent": FakeFailingPolicy(["x"])}, progress=False)
    summary = runner.run(jobs_for(ENV_ID, 2, seed=0, scenarios=[0, 1]))
    assert (summary.ok, summary.failed) == (0, 2)
    with ReplayStore(tmp_path / "f.duckdb", read_only=True) as store:
        episodes = store.episodes(runner.run_id)
        assert set(episodes["status"]) == {"failed"} and episodes["score"].isna().all()
        assert all("503" in reason for reason in episodes["reason"])
