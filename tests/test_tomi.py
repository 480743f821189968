"""ToMi (ParaToMi): rows, actions, the location-match metric, observations, feedback and replay."""

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
from scenarios import tomi
from scenarios.tomi.feedback import default_feedback_writer
from scenarios.tomi.schema import DATA_SOURCE, ToMiRow

FIXTURE = Path("scenarios/tomi/data/fixture.jsonl")
LINES = FIXTURE.read_text().splitlines()
ROW = json.loads(LINES[0])["extra_info"]  # gold biscuit_tin, candidates biscuit_tin / sugar_jar
NO_CANDS = json.loads(LINES[2])["extra_info"]  # gold tea_tin, no candidates


def answer(text: str, row=ROW, **kwargs):
    env = osim_env.make("soul/tomi-v0", scenario=row, **kwargs)
    env.reset(seed=0)
    env.step(text)
    return env


# -- rows ---------------------------------------------------------------------------------------------
def test_fixture_rows_decode_and_normalize_aliases():
    rows = tomi.load(FIXTURE)
    assert [s.scenario_id for s in rows] == [f"tomi-fx-{i}" for i in range(5)]
    first, second, third, fourth, fifth = (s.row for s in rows)
    assert first.story.startswith("Pia walked into the pantry. The whistle was sitting")
    assert first.cands == ["biscuit_tin", "sugar_jar"]
    assert second.cands == ["green_bucket", "blue_crate"]  # a list literal string
    assert third.story.startswith("Mina entered the study. The stamp")  # a list literal story
    assert third.cands is None
    assert fourth.cands == ["wine_rack", "crate_lid"]  # comma-separated
    # aliases: answer -> correct_answer, candidates -> cands
    assert fifth.correct_answer == "seed_box" and fifth.cands == ["seed_box", "rain_barrel"]
    dumped = fifth.model_dump()
    assert "answer" not in dumped and "candidates" not in dumped
    assert ToMiRow.model_validate(dumped) == fifth
    for empty in ([], "[]", "", " , "):
        assert ToMiRow.model_validate({**ROW, "cands": empty}).cands is None


def test_published_parquet_layout(tmp_path):
    rows = [
        {
            "data_source": "paratomi",
            "extra_info": {**ROW, "index": "t0"},
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": "biscuit_tin"},
        },
        {
            "data_source": "paratomi",
            "extra_info": {**ROW, "index": "t1", "cands": None, "qType": "first_order_tom"},
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": "biscuit_tin"},
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "tomi.parquet")
    loaded = tomi.load(tmp_path / "tomi.parquet")
    assert [s.scenario_id for s in loaded] == ["t0", "t1"]
    assert loaded[0].row.cands == ["biscuit_tin", "sugar_jar"] and loaded[1].row.cands is None
    assert loaded[1].row.qType == "first_order_tom"
    assert loaded[0].row.story == " ".join(ROW["story"])


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({**ROW, "question": "  "}, "question", "must not be blank"),
        ({k: v for k, v in ROW.items() if k != "correct_answer"}, "correct_answer", "Field required"),
        ({**ROW, "story": []}, "story", "story is empty"),
        ({**ROW, "story": [1, 2]}, "story", "list of strings"),
        ({**ROW, "cands": ["sugar_jar", "tea_tin"]}, "cands", "not one of the candidates"),
    ],
)
def test_malformed_rows_raise_row_error_with_file_row_and_field(tmp_path, bad, field, message):
    path = tmp_path / "tomi.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + json.dumps(bad) + "\n" + json.dumps(NO_CANDS) + "\n")
    with pytest.raises(RowError) as info:
        tomi.load(path)
    assert info.value.file == str(path) and info.value.row == 1 and info.value.field == field
    assert message in str(info.value)
    assert [s.row.correct_answer for s in tomi.load(path, on_invalid="skip")] == ["biscuit_tin", "tea_tin"]
    _, skipped = load_rows(path, ToMiRow, DATA_SOURCE, on_invalid="skip")
    assert skipped == 1


def test_rows_of_another_task_are_rejected(tmp_path):
    path = tmp_path / "tomi.jsonl"
    path.write_text(json.dumps({"data_source": "hitom", "extra_info": ROW}) + "\n")
    with pytest.raises(RowError) as info:
        tomi.load(path)
    assert info.value.field == "data_source" and "'paratomi'" in str(info.value)


# -- actions ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "detail"),
    [
        ("Pia left first. <answer>biscuit_tin</answer>", "message", "biscuit_tin"),
        ("<answer>sugar_jar</answer> no wait <ANSWER> biscuit tin </ANSWER>", "message", "biscuit tin"),
        ("<think><answer>sugar_jar</answer></think><answer>biscuit_tin</answer>", "message", "biscuit_tin"),
        ("<answer>biscuit_tin or sugar_jar</answer>", "message", "biscuit_tin or sugar_jar"),
        ("biscuit_tin", "invalid_action", "no answer found"),
        ("<answer>  </answer>", "invalid_action", "no answer found"),
        ("<answer>biscuit_tin", "invalid_action", "no answer found"),
        ("", "invalid_action", "no answer found"),
        ("<think>biscuit_tin</think>", "invalid_action", "empty after removing thinking"),
    ],
)
def test_actions_table(text, kind, detail):
    env = answer(text)
    event = env.unwrapped.log[0]
    assert event.kind == kind and event.payload["raw"] == text
    if kind == "message":
        assert event.payload["answer"] == detail
        assert env.unwrapped.termination == "answered"
    else:
        assert event.payload["reason"] == detail and event.visibility == ("answerer",)
        assert env.infos["answerer"]["invalid_reason"] == detail
        assert env.unwrapped.termination == "invalid answer"
    assert all(env.terminations.values()) and not any(env.truncations.values())


# -- metric -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "row", "score"),
    [
        ("<answer>biscuit_tin</answer>", ROW, 1.0),
        ("<answer>The Biscuit Tin.</answer>", ROW, 1.0),  # normalized: case, _, article, punctuation
        ("<answer>in the biscuit_tin</answer>", ROW, 1.0),  # whole phrase among candidates
        ("<answer>sugar_jar</answer>", ROW, 0.0),
        ("<answer>biscuit_tin, sugar_jar</answer>", ROW, 0.0),  # several candidates
        ("<answer>biscuit_tin or maybe the sugar jar</answer>", ROW, 0.0),
        ("<answer>biscuit_tins</answer>", ROW, 0.0),  # not a whole phrase
        ("<answer>tea_tin</answer>", NO_CANDS, 1.0),
        ("<answer>In the Tea Tin</answer>", NO_CANDS, 1.0),  # leading "in" and the article dropped
        ("<answer>on tea_tin!</answer>", NO_CANDS, 1.0),
        ("<answer>the tea_tin in the study</answer>", NO_CANDS, 0.0),  # exact match only
        ("<answer>desk_drawer</answer>", NO_CANDS, 0.0),
        ("<answer>tea_tin or desk_drawer</answer>", NO_CANDS, 0.0),
    ],
)
def test_location_match_scores(text, row, score):
    env = answer(text, row)
    assert env.rewards == {"answerer": score}
    judgment = env.unwrapped.judgments["answerer"]
    assert judgment.dims == {"valid": 1.0, "correct": score} and judgment.error is None
    assert env.infos["answerer"]["score"] == score


def test_missing_tag_is_invalid_and_scores_zero():
    env = answer("Pia will look in the biscuit_tin.")
    judgment = env.unwrapped.judgments["answerer"]
    assert env.rewards == {"answerer": 0.0}
    assert judgment.score == 0.0 and judgment.dims == {"valid": 0.0} and judgment.error is None
    assert judgment.reasons == {"answer": "no answer found"}
    assert env.unwrapped.status == "ok"


def test_hand_written_answers_over_the_fixture_give_the_expected_accuracy():
    # gold: biscuit_tin, green_bucket, tea_tin, wine_rack, seed_box
    answers = [
        "Pia left before the move. <answer>biscuit_tin</answer>",  # correct -> 1
        "<answer>blue_crate</answer>",  # wrong -> 0
        "The stamp is in the tea_tin now.",  # no tag -> invalid, 0
        "<answer>wine_rack and crate_lid</answer>",  # several candidates -> 0
        "<answer>the seed box</answer>",  # correct -> 1
    ]
    scores, valid = [], []
    for index, text in enumerate(answers):
        env = answer(text, index)
        judgment = env.unwrapped.judgments["answerer"]
        scores.append(judgment.score)
        valid.append(judgment.dims["valid"])
    assert scores == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert valid == [1.0, 1.0, 0.0, 1.0, 1.0]
    assert sum(scores) / len(scores) == 0.4


def test_a_judge_failure_is_an_error_never_a_score():
    with pytest.warns(RuntimeWarning, match="judge failed"):
        env = answer("<answer>biscuit_tin</answer>", judge=FailingJudge())
    assert env.unwrapped.status == "judge_error"
    assert env.infos["answerer"]["score"] is None
    assert env.infos["answerer"]["judge_error"].startswith("judge call timed out")
    assert env.unwrapped.judgments["answerer"].score is None


# -- observations -------------------------------------------------------------------------------------
def test_observation_is_one_user_message_without_hidden_fields():
    env = osim_env.make("soul/tomi-v0", scenario=4)
    env.reset(seed=0)
    messages = env.observe("answerer")["messages"]
    assert len(messages) == 1 and messages[0]["role"] == "user"
    content = messages[0]["content"]
    assert "Kofi exited the shed. Ines moved the trowel to the rain_barrel." in content
    assert "## Question\nWhere will Kofi look for the trowel?" in content
    assert "## Possible answers\nseed_box, rain_barrel" in content
    assert "most specific container" in content and "<answer>" in content
    assert "first_order" not in content and "qType" not in content  # metadata stays hidden


def test_without_candidates_there_is_no_possible_answers_section():
    env = osim_env.make("soul/tomi-v0", scenario=NO_CANDS)
    env.reset(seed=0)
    content = env.observe("answerer")["messages"][0]["content"]
    assert "Possible answers" not in content and "reality" not in content
    env.reset(seed=7)
    assert env.observe("answerer")["messages"][0]["content"] == content


def test_feedback_is_in_the_system_prompt_only_of_a_refined_rollout():
    env = osim_env.make("soul/tomi-v0", scenario=0)
    env.reset(seed=0)
    draft = env.observe("answerer")["messages"]
    env.reset(seed=1, options={"feedback": "Check where Pia was when the whistle moved."})
    refined = env.observe("answerer")["messages"]
    assert refined[0]["role"] == "system" and "Pia was when" in refined[0]["content"]
    assert refined[1:] == draft
    assert env.unwrapped.messages_for("answerer", with_feedback=False) == draft


# -- feedback -----------------------------------------------------------------------------------------
def feedback_answer(text: str) -> str:
    return json.dumps(
        {"critiques": {"location_tracking": "missed an exit"}, "reflection": "Check exits.", "feedback": text}
    )


def wrong_draft():
    env = answer("Lev moved it, so <answer>sugar_jar</answer>")
    raw = env.unwrapped
    return raw.episode_record(), raw.judgments["answerer"]


def test_feedback_prompt_carries_draft_and_gold_and_the_hint_comes_back():
    record, judgment = wrong_draft()
    model = FakeJudgeModel([feedback_answer("Pia left before the whistle was moved; what did she see?")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique.startswith("Pia left before")
    prompt = model.requests[0].messages[-1]["content"]
    assert "Lev moved it" in prompt and "## Gold answer (for you only)\nbiscuit_tin" in prompt
    assert "wrong; answered 'sugar_jar'" in prompt


def test_feedback_naming_the_gold_location_is_regenerated_once_then_dropped():
    record, judgment = wrong_draft()
    model = FakeJudgeModel(
        [feedback_answer("Look in the biscuit tin."), feedback_answer("It is the Biscuit_Tin.")]
    )
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.feedback is None and "leaks the gold" in result.error and len(model.requests) == 2
    model = FakeJudgeModel([feedback_answer("biscuit_tin!"), feedback_answer("Pia was away when it moved.")])
    result = default_feedback_writer(model).feedback_for(record, judgment)
    assert result.error is None and result.feedback.critique == "Pia was away when it moved."
    assert "previous feedback gave the answer away" in model.requests[1].messages[-1]["content"]


# -- the command line and replay ---------------------------------------------------------------------
def test_scripted_run_is_stored_and_every_episode_replays_exactly(tmp_path, capsys):
    answers = ["<think>Pia left.</think><answer>biscuit_tin</answer>", "no tag here", "<answer>a, b</answer>"]
    store = scripted_run("soul/tomi-v0", tmp_path, answers, episodes=6)
    assert "6 episodes run" in capsys.readouterr().out
    episodes = replayed_episodes(store)
    assert len(episodes) == 6 and set(episodes["status"]) == {"ok"}
    assert episodes["score"].notna().all()
    assert main(["replay", "check", "--store", str(store)]) == 0


def test_tiny_policy_run_and_replay_check(tmp_path, tiny_model_dir, capsys):
    store = tmp_path / "tiny.duckdb"
    code = main(
        ["run", "soul/tomi-v0", "--policy", "tiny", "--episodes", "3", "--store", str(store), "--no-progress"]
    )
    assert code == 0 and "3 episodes run" in capsys.readouterr().out
    assert main(["replay", "check", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert out.count("reproduced exactly") == 3
