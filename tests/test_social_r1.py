"""Social-R1 (docs/tasks.md#social-r1): loader, extraction, metric, observation, conformance, CLI, replay."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from task_runs import replayed_episodes, scripted_run

import osim_env
import osim_env.test
from osim.cli import main
from osim.runner import run_sweep
from osim_env.data import RowError
from policies.scripted import ScriptedPolicy
from replays import ReplayStore
from scenarios import social_r1

ENV_ID = "soul/social-r1-v0"

FIXTURE = Path("scenarios/social_r1/data/fixture.jsonl")
ROWS = [json.loads(line)["extra_info"] for line in FIXTURE.read_text().splitlines()]
ROW = ROWS[0]


def answer(text: str, row=ROW):
    env = osim_env.make(ENV_ID, scenario=row)
    env.reset(seed=0)
    env.step(text)
    return env


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("index", "text", "score"),
    [
        (0, "Noor hides her neglect. <answer>A</answer>", 1.0),
        (0, "<answer>B</answer>", 0.0),
        (1, "<answer>B</answer>", 1.0),
        (1, "<answer>A</answer>", 0.0),
        (2, "The notice was posted while Jun was away. <answer>B</answer>", 1.0),
        (2, "<answer>A</answer>", 0.0),
        (3, "<answer>c</answer>", 1.0),
        (3, "<answer>D</answer>", 0.0),
    ],
)
def test_hand_written_answers_score_exactly(index, text, score):
    env = answer(text, ROWS[index])
    assert env.rewards == {"answerer": score}
    judgment = env.unwrapped.judgments["answerer"]
    assert judgment.dims == {"valid": 1.0, "correct": score} and judgment.error is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I'd say A fits best", "no answer found"),
        ("<answer>A or B</answer>", "more than one letter"),
        ("<answer>E</answer>", "letter out of range"),
        ("<think><answer>A</answer></think>", "empty after removing thinking"),
    ],
)
def test_invalid_answers_score_zero_with_a_reason(text, reason):
    env = answer(text)
    event = env.unwrapped.log[0]
    assert event.kind == "invalid_action" and event.payload["reason"] == reason
    judgment = env.unwrapped.judgments["answerer"]
    assert env.rewards == {"answerer": 0.0} and judgment.dims["valid"] == 0.0 and judgment.error is None
    assert env.infos["answerer"]["invalid_reason"] == reason and all(env.terminations.values())


def test_last_tag_wins_and_a_tag_inside_thinking_is_ignored():
    # The original took the first tag: <answer>B</answer> would have scored 0 here (docs/tasks.md#social-r1).
    assert answer("<answer>B</answer> no, wait: <answer>A</answer>").rewards == {"answerer": 1.0}
    assert answer("<think><answer>A</answer></think> <answer>B</answer>").rewards == {"answerer": 0.0}


def test_observation_is_the_system_message_and_the_unchanged_prompt():
    env = osim_env.make(ENV_ID, scenario=ROWS[3])
    env.reset(seed=0)
    messages = env.observe("answerer")["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == ROWS[3]["prompt_text"]
    assert "<answer>" in messages[0]["content"]
    seen = json.dumps(messages)
    assert "emotion" not in seen and "sr1-fx-3" not in seen  # category and id are hidden


def test_options_are_the_last_lettered_run_even_after_a_story_line_starting_with_a():
    rows = social_r1.load(FIXTURE)
    assert rows[2].row.options[0] == "He knows Smith was late." and len(rows[2].row.options) == 4
    assert rows[1].row.options == [
        "The timer is reliable.",
        "Wren should not trust the timer.",
        "He likes dark, crusty rolls.",
    ]


def test_gold_comes_from_letter_leading_letter_or_exact_option_text():
    rows = {s.scenario_id: s.row.gold for s in social_r1.load(FIXTURE)}
    assert rows == {"sr1-fx-0": "A", "sr1-fx-1": "B", "sr1-fx-2": "B", "sr1-fx-3": "C"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # The original's fallback took the first character: "(" and "S" would be the gold.
        ({"answer_letter": None, "answer_text": "(B)"}, "has no leading letter and matches 0 options"),
        ({"answer_letter": None, "answer_text": "She is lying."}, "matches 0 options"),
        ({"answer_letter": None, "answer_text": None}, "no gold"),
        ({"answer_letter": "E", "answer_text": None}, "is not one of the options"),
        ({"answer_letter": "B"}, "disagrees with answer_text"),
        ({"prompt_text": "Story: x\nA. only one option"}, "options not found"),
    ],
)
def test_rows_without_a_usable_gold_or_options_are_rejected_at_load(tmp_path, change, reason):
    path = write_jsonl(tmp_path / "sr1.jsonl", [ROW, {**ROW, **change}])
    with pytest.raises(RowError) as info:
        social_r1.load(path)
    assert info.value.row == 1 and info.value.file == str(path) and reason in str(info.value)
    assert len(social_r1.load(path, on_invalid="skip")) == 1


def test_malformed_row_names_file_row_and_field(tmp_path):
    path = write_jsonl(tmp_path / "sr1.jsonl", [ROW, ROW, {**ROW, "prompt_text": ""}])
    with pytest.raises(RowError) as info:
        social_r1.load(path)
    assert (info.value.row, info.value.field, info.value.line) == (2, "prompt_text", 3)


def test_prompt_aliases_conversations_and_prompt():
    text = ROW["prompt_text"]
    bare = {k: v for k, v in ROW.items() if k != "prompt_text"}
    wrapped = {**bare, "conversations": [{"messages": [{"role": "user", "content": text}]}]}
    for row in (wrapped, {**bare, "prompt": text}, {**bare, "prompt": [{"role": "user", "content": text}]}):
        assert answer("<answer>A</answer>", row).rewards == {"answerer": 1.0}


def test_published_parquet_layout_and_unknown_data_source(tmp_path):
    rows = [
        {"data_source": "social_r1", "extra_info": r, "prompt": [{"role": "user", "content": "?"}]}
        for r in ROWS
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "sr1.parquet")
    loaded = social_r1.load(tmp_path / "sr1.parquet")
    assert [s.scenario_id for s in loaded] == ["sr1-fx-0", "sr1-fx-1", "sr1-fx-2", "sr1-fx-3"]
    path = write_jsonl(tmp_path / "bad.jsonl", [{"data_source": "socialr1", "extra_info": ROW}])
    with pytest.raises(RowError) as info:
        social_r1.load(path)
    assert info.value.field == "data_source" and "'socialr1'" in str(info.value)


def test_cli_run_stores_episodes_that_replay_exactly(tmp_path, capsys):
    store = scripted_run(ENV_ID, tmp_path, ["<answer>A</answer>", "<answer>B</answer>", "no tag"], episodes=3)
    episodes = replayed_episodes(store)
    assert len(episodes) == 3 and (episodes["status"] == "ok").all()
    assert set(episodes["score"]) <= {0.0, 1.0}
    capsys.readouterr()
    assert main(["replay", "check", "--store", str(store)]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3


def test_a_failed_policy_call_is_a_failed_episode_never_a_zero(tmp_path):
    # The original scored a failed policy call (None) as a wrong answer, 0 (docs/tasks.md#social-r1).
    policy = ScriptedPolicy(["<answer>A</answer>"], cycle=False)
    store = tmp_path / "sr1.duckdb"
    summary = run_sweep(ENV_ID, store=store, policy=policy, episodes=2, scenarios=[0, 0], concurrency=1)
    assert (summary.ok, summary.failed) == (1, 1)
    with ReplayStore(store, read_only=True) as s:
        episodes = s.episodes().set_index("status")
        assert episodes.loc["ok", "score"] == 1.0
        assert pd.isna(episodes.loc["failed", "score"]) and "exhausted" in episodes.loc["failed", "reason"]
