from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import osim_env
from osim_env.data import RowError
from scenarios import hitom

ROW = json.loads(Path("scenarios/hitom/data/fixture.jsonl").read_text().splitlines()[0])["extra_info"]


def answer(text: str, row=ROW):
    env = osim_env.make("soul/hitom-v0", scenario=row)
    env.reset(seed=0)
    env.step(text)
    return env


def test_correct_answer_scores_one_wrong_zero():
    env = answer("Tobi left before Wen spoke... <answer>A</answer>")
    assert env.rewards == {"answerer": 1.0}
    judgment = env.unwrapped.judgments["answerer"]
    assert judgment.dims == {"valid": 1.0, "correct": 1.0}
    assert answer("<answer>B</answer>").rewards == {"answerer": 0.0}
    assert answer("reasoning\nFinal answer: (a)").rewards == {"answerer": 1.0}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I'd say A fits best", "no answer found"),
        ("<answer>A or B</answer>", "more than one letter"),
        ("<answer>E</answer>", "letter out of range"),
        ("<think>A</think>", "empty after removing thinking"),
    ],
)
def test_invalid_answers_score_zero_with_a_reason(text, reason):
    env = answer(text)
    event = env.unwrapped.log[0]
    assert event.kind == "invalid_action" and event.payload["reason"] == reason
    assert env.rewards == {"answerer": 0.0}
    judgment = env.unwrapped.judgments["answerer"]
    assert judgment.dims["valid"] == 0.0 and judgment.error is None
    assert env.infos["answerer"]["invalid_reason"] == reason
    assert all(env.terminations.values())


def test_observation_is_one_user_message_with_story_question_and_options():
    env = osim_env.make("soul/hitom-v0", scenario=ROW)
    env.reset(seed=0)
    messages = env.observe("answerer")["messages"]
    assert len(messages) == 1 and messages[0]["role"] == "user"
    content = messages[0]["content"]
    assert ROW["story"] in content and ROW["question"] in content
    assert "A. oak_chest\nB. tin_trunk" in content and "<answer>" in content


def test_options_with_commas_and_lists_and_gold_mapping():
    row = {
        **ROW,
        "choices": "A. red box, under the rags, B. blue tin, C. shelf",
        "correct_answer": "blue tin",
    }
    assert answer("<answer>B</answer>", row).rewards == {"answerer": 1.0}
    row = {**ROW, "choices": json.dumps(["x, y", "z"]), "correct_answer": "x, y"}
    assert answer("<answer>A</answer>", row).rewards == {"answerer": 1.0}


def test_rows_whose_gold_is_not_exactly_one_option_are_rejected(tmp_path):
    path = tmp_path / "hitom.jsonl"
    rows = [
        ROW,
        {**ROW, "correct_answer": "attic"},
        {**ROW, "choices": "A. box, B. box", "correct_answer": "box"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(RowError) as info:
        hitom.load(path)
    assert info.value.row == 1 and "matches 0 options" in str(info.value)
    assert len(hitom.load(path, on_invalid="skip")) == 1


def test_published_parquet_layout(tmp_path):
    rows = [
        {
            "data_source": "hitom",
            "extra_info": {**ROW, "index": "h0"},
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": "A"},
        },
        {
            "data_source": "hitom",
            "extra_info": {**ROW, "index": "h1", "deception": "True"},
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": "A"},
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "hitom.parquet")
    loaded = hitom.load(tmp_path / "hitom.parquet")
    assert [s.scenario_id for s in loaded] == ["h0", "h1"]
    assert loaded[1].row.deception is True and loaded[0].row.gold == "A"


def test_fixture_has_five_valid_rows():
    rows = hitom.load("scenarios/hitom/data/fixture.jsonl")
    assert len(rows) >= 5
    assert len({s.row.gold for s in rows}) > 1
