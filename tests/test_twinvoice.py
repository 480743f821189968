"""soul/twinvoice-v0: the persona picks the reply that a person with this history would write."""

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
from scenarios import twinvoice
from scenarios.twinvoice.judge import TwinVoiceJudge

FIXTURE = Path("scenarios/twinvoice/data/fixture.jsonl")
LINES = FIXTURE.read_text(encoding="utf-8").splitlines()
ROW = json.loads(LINES[0])["extra_info"]  # gold B, dimension social


def answer(text: str, scenario=0, **kw):
    env = osim_env.make("soul/twinvoice-v0", scenario=scenario, **kw)
    env.reset(seed=0)
    env.step(text)
    return env


# -- metric: hand-written answers against the fixture with known gold ------------------------------
@pytest.mark.parametrize(
    ("index", "text", "score", "dims"),
    [
        (0, "<reasoning>lower case, 'lol', terse</reasoning><answer>B</answer>", 1.0,
         {"valid": 1.0, "correct": 1.0, "accuracy.social": 1.0}),
        (0, "<reasoning>enthusiastic</reasoning><answer>A</answer>", 0.0,
         {"valid": 1.0, "correct": 0.0, "accuracy.social": 0.0}),
        (0, "<reasoning>unsure</reasoning>", 0.0, {"valid": 0.0, "accuracy.social": 0.0}),
        (1, "<reasoning>formal, 'Dear'</reasoning>\nAnswer: (d)", 1.0,
         {"valid": 1.0, "correct": 1.0, "accuracy.interpersonal": 1.0}),
        (1, "<answer>E</answer>", 0.0, {"valid": 0.0, "accuracy.interpersonal": 0.0}),
        (2, "<reasoning>literary</reasoning><answer>a</answer>", 1.0,
         {"valid": 1.0, "correct": 1.0, "accuracy.narrative": 1.0}),
        (3, "<reasoning>sceptical of gains</reasoning>\n**C**", 1.0,
         {"valid": 1.0, "correct": 1.0, "accuracy.social": 1.0}),
        (3, "<answer>B or C</answer>", 0.0, {"valid": 0.0, "accuracy.social": 0.0}),
        (4, "<reasoning>exclamation marks, Doughlores</reasoning><answer>B</answer>", 1.0,
         {"valid": 1.0, "correct": 1.0}),  # no dimension: no breakdown key
        (4, "<answer>D</answer>", 0.0, {"valid": 1.0, "correct": 0.0}),
    ],
)  # fmt: skip
def test_hand_written_answers_get_exactly_the_expected_scores_and_breakdown(index, text, score, dims):
    env = answer(text, index)
    assert env.rewards == {"persona": score}
    judgment = env.unwrapped.judgments["persona"]
    assert judgment.score == score and judgment.error is None and judgment.dims == dims
    assert env.unwrapped.status == "ok"


def test_accuracy_and_breakdown_over_the_fixture():
    sheet = [
        "<answer>B</answer>",
        "<answer>A</answer>",
        "<answer>A</answer>",
        "nothing",
        "<answer>B</answer>",
    ]
    judgments = [answer(text, i).unwrapped.judgments["persona"] for i, text in enumerate(sheet)]
    assert [j.score for j in judgments] == [1.0, 0.0, 1.0, 0.0, 1.0]
    social = [j.dims["accuracy.social"] for j in judgments if "accuracy.social" in j.dims]
    assert social == [1.0, 0.0]
    assert [j.dims.get("accuracy.narrative") for j in judgments] == [None, None, 1.0, None, None]


# -- actions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "result"),
    [
        ("<reasoning>terse</reasoning><answer>b</answer>", "message", "B"),
        ("<reasoning>maybe <answer>A</answer></reasoning><answer>C</answer>", "message", "C"),
        ("<think><answer>A</answer></think><answer>D</answer>", "message", "D"),
        ("<answer>B</answer>", "message", "B"),  # reasoning is asked for, not required
        ("<reasoning>it is B</reasoning>", "invalid_action", "no answer found"),
        ("<reasoning>terse</reasoning>**B**", "invalid_action", "no answer found"),
        ("<reasoning>x</reasoning><answer>go early lol</answer>", "invalid_action", "no answer found"),
        ("<answer>A, B</answer>", "invalid_action", "more than one letter"),
        ("<answer>E</answer>", "invalid_action", "letter out of range"),
        ("<think>B</think>", "invalid_action", "empty after removing thinking"),
        ("", "invalid_action", "no answer found"),
    ],
)
def test_actions_table(text, kind, result):
    env = answer(text)
    event = env.unwrapped.log[0]
    assert event.kind == kind and event.payload["raw"] == text
    if kind == "message":
        assert event.payload["answer"] == result and env.infos["persona"]["termination"] == "answered"
    else:
        assert event.payload["reason"] == result and event.visibility == ("persona",)
        assert env.infos["persona"]["termination"] == "invalid answer"
        assert env.infos["persona"]["invalid_reason"] == result
    assert all(env.terminations.values())


# -- judge failures are errors, never scores -------------------------------------------------------
def test_a_failing_judge_is_an_error_not_a_score():
    with pytest.warns(RuntimeWarning, match="judge"):
        env = answer("<answer>B</answer>", judge=FailingJudge())
    assert env.unwrapped.status == "judge_error" and env.infos["persona"]["score"] is None
    assert env.rewards == {"persona": 0.0}


def test_the_rule_judge_fails_on_a_record_whose_row_does_not_validate():
    record = answer("<answer>B</answer>", judge=False).unwrapped.episode_record()
    broken = record.model_copy(update={"scenario": {**record.scenario, "answer_idx": 7}})
    judgment = TwinVoiceJudge().judge_episode(broken)["persona"]
    assert judgment.score is None and "not a TwinVoice row" in judgment.error and judgment.dims == {}
    assert TwinVoiceJudge().judge_episode(record)["persona"].score == 1.0


# -- observations ----------------------------------------------------------------------------------
def observation(scenario, seed: int = 0):
    env = osim_env.make("soul/twinvoice-v0", scenario=scenario)
    env.reset(seed=seed)
    return env.observe("persona")["messages"]


def test_observation_is_one_user_message_with_history_bullets_anchor_and_options():
    (message,) = observation(0)
    assert message["role"] == "user"
    content = message["content"]
    assert "- ok who moved my bike lock AGAIN\n- honestly the 7am ferry" in content
    assert ROW["anchor_post"] in content
    assert "A. Absolutely!" in content and "\nD. Night markets are popular" in content
    assert "<reasoning>" in content and "<answer>A</answer>" in content


def test_a_multi_line_post_stays_one_bullet():
    row = {**ROW, "conversation_history": ["first line\nsecond line", "short"]}
    content = observation(row)[0]["content"]
    assert "- first line\n  second line\n- short\n" in content


def test_the_gold_and_metadata_are_never_shown():
    moved = {**ROW, "answer_idx": 3, "dimension": "narrative", "id": "other", "user_id": "someone"}
    assert observation(ROW) == observation(moved)
    text = json.dumps(observation(ROW))
    assert "u-fx-17" not in text and "social" not in text and "answer_idx" not in text


def test_seeds_give_identical_observations_and_feedback_stays_out_of_the_plain_prompt():
    assert observation(None, seed=5) == observation(None, seed=5)
    env = osim_env.make("soul/twinvoice-v0", scenario=0)
    env.reset(seed=0, options={"feedback": "This person writes in lower case and shorthand."})
    raw = env.unwrapped
    assert "shorthand" in raw.messages_for("persona")[0]["content"]
    assert raw.messages_for("persona", with_feedback=False) == observation(0)


# -- rows ------------------------------------------------------------------------------------------
def test_fixture_rows_aliases_and_decoding():
    rows = twinvoice.load(FIXTURE)
    assert [s.scenario_id for s in rows] == [f"twinvoice-fx-{i}" for i in range(5)]
    assert [s.row.gold for s in rows] == ["B", "D", "A", "C", "B"]
    assert [s.row.dimension for s in rows] == ["social", "interpersonal", "narrative", "social", None]
    assert rows[1].row.conversation_history[1].startswith("With thanks")  # decoded from a JSON string
    aliased = rows[2].row  # written with history / choices and "Narrative"
    assert len(aliased.conversation_history) == 2 and aliased.answer_choices[2].startswith("omg")
    dumped = aliased.model_dump()
    assert "history" not in dumped and "choices" not in dumped and dumped["dimension"] == "narrative"


def published(extra: dict, index: str) -> dict:
    return {
        "data_source": "twinvoice",
        "extra_info": {**extra, "index": index},
        "prompt": [{"role": "user", "content": "?"}],
        "reward_model": {"ground_truth": "ABCD"[extra["answer_idx"]]},
    }


def test_published_parquet_layout(tmp_path):
    rows = [published(ROW, "t0"), published({**ROW, "answer_idx": 3, "dimension": None}, "t1")]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "twinvoice.parquet")
    loaded = twinvoice.load(tmp_path / "twinvoice.parquet")
    assert [s.scenario_id for s in loaded] == ["t0", "t1"]
    assert loaded[0].row.gold == "B" and loaded[0].row.dimension == "social"
    assert loaded[1].row.gold == "D" and loaded[1].row.dimension is None
    assert loaded[0].row.conversation_history == ROW["conversation_history"]
    env = osim_env.make("soul/twinvoice-v0", scenario=loaded[1])
    env.reset(seed=0)
    env.step("<answer>D</answer>")
    assert env.rewards == {"persona": 1.0} and env.unwrapped.judgments["persona"].dims["correct"] == 1.0


def test_published_parquet_with_json_encoded_lists(tmp_path):
    encoded = {
        **ROW,
        "conversation_history": json.dumps(["a post", "another post"]),
        "answer_choices": json.dumps(["w", "x", "y", "z"]),
    }
    pq.write_table(pa.Table.from_pylist([published(encoded, "t2")]), tmp_path / "encoded.parquet")
    (loaded,) = twinvoice.load(tmp_path / "encoded.parquet")
    assert loaded.row.conversation_history == ["a post", "another post"]
    assert loaded.row.answer_choices == ["w", "x", "y", "z"] and loaded.row.gold == "B"


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({**ROW, "answer_idx": 4}, "answer_idx", "less than or equal to 3"),
        ({**ROW, "answer_idx": True}, "answer_idx", "must be an integer"),
        ({**ROW, "answer_choices": ["a", "b", "c"]}, "answer_choices", "exactly 4 choices"),
        ({**ROW, "answer_choices": ["a", "b", "a", "c"]}, "answer_choices", "distinct"),
        ({**ROW, "answer_choices": ["a", "b", " ", "c"]}, "answer_choices", "a choice is empty"),
        ({**ROW, "conversation_history": []}, "conversation_history", "at least 1 item"),
        ({**ROW, "conversation_history": ["", "  "]}, "conversation_history", "non-empty post"),
        ({**ROW, "anchor_post": " "}, "anchor_post", "must not be blank"),
        ({**ROW, "dimension": "political"}, "dimension", "must be one of"),
        ({k: v for k, v in ROW.items() if k != "answer_idx"}, "answer_idx", "Field required"),
    ],
)
def test_malformed_rows_raise_row_errors_naming_file_row_and_field(tmp_path, bad, field, message):
    path = tmp_path / "twinvoice.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (ROW, bad, ROW)) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        twinvoice.load(path)
    assert info.value.file == str(path) and info.value.row == 1 and info.value.field == field
    assert message in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1 invalid"):
        assert len(twinvoice.load(path, on_invalid="skip")) == 2


def test_an_aliased_field_is_named_as_written_and_other_tasks_rows_are_rejected(tmp_path):
    bare = {k: v for k, v in ROW.items() if k != "answer_choices"}
    path = tmp_path / "twinvoice.jsonl"
    rows = [{**bare, "choices": ["only one"]}, {"data_source": "mistakes", "extra_info": ROW}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        twinvoice.load(path)
    assert info.value.row == 0 and info.value.field == "choices"
    with pytest.warns(UserWarning, match="skipped 2 invalid"):
        assert twinvoice.load(path, on_invalid="skip") == []


# -- the command line and replay -------------------------------------------------------------------
def test_osim_run_with_the_tiny_model_replays_exactly(tmp_path, tiny_model_dir, capsys):
    store = tmp_path / "X.duckdb"
    code = main(
        ["run", "soul/twinvoice-v0", "--policy", "tiny", "--episodes", "3", "--store", str(store),
         "--no-progress"]
    )  # fmt: skip
    assert code == 0 and "3 episodes run" in capsys.readouterr().out
    assert main(["replay", "check", "--store", str(store)]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3
    with ReplayStore(store, read_only=True) as s:
        episodes = s.episodes()
        assert len(episodes) == 3 and set(episodes["status"]) == {"ok"}
        assert episodes["score"].notna().all()


def test_a_scripted_run_stores_answers_that_replay(tmp_path):
    episodes = replayed_episodes(
        scripted_run(
            "soul/twinvoice-v0",
            tmp_path,
            ["<reasoning>terse</reasoning><answer>B</answer>", "<answer>A</answer>", "no idea"],
            episodes=6,
        )
    )
    assert len(episodes) == 6 and set(episodes["score"]) <= {0.0, 1.0}
