"""AlignX (docs/tasks.md#alignx): loader and variants, A/B position, metric, position bias, conformance,
CLI and replay."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from task_runs import replayed_episodes, scripted_run

import osim_env
import osim_env.test
from osim.cli import main
from osim_env.data import RowError
from scenarios import alignx
from scenarios.alignx.judge import chosen_letter, position_bias, variant_scores

ENV_ID = "soul/alignx-v0"

FIXTURE = Path("scenarios/alignx/data/fixture.jsonl")
PUBLISHED = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
ROW = PUBLISHED[0]["extra_info"]
GOLD = ["B", "B", "A", "B"]  # chosen_letter of the fixture ids 17, 11, 20, 24


def answer(text: str, scenario=0, **options):
    env = osim_env.make(ENV_ID, scenario=scenario, **options)
    env.reset(seed=0)
    env.step(text)
    return env


def prompt_of(scenario, seed: int = 0, **options) -> str:
    env = osim_env.make(ENV_ID, scenario=scenario, **options)
    env.reset(seed=seed)
    return env.observe("user")["messages"][1]["content"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("index", range(4))
def test_hand_written_answers_score_exactly(index):
    gold, other = GOLD[index], "A" if GOLD[index] == "B" else "B"
    env = answer(f"<answer>{gold}</answer>", index)
    assert env.rewards == {"user": 1.0}
    dims = env.unwrapped.judgments["user"].dims
    assert dims == {
        "valid": 1.0,
        "correct": 1.0,
        "gold_is_a": float(gold == "A"),
        "answered_a": float(gold == "A"),
    }
    assert answer(f"<answer>{other}</answer>", index).rewards == {"user": 0.0}


def test_the_chosen_reply_is_shown_at_the_gold_letter():
    for index, gold in enumerate(GOLD):
        chosen = PUBLISHED[index]["extra_info"]["chosen"]
        assert f"## Response {gold}\n{chosen}" in prompt_of(index)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I prefer the second one", "no answer found"),
        ("<answer>C</answer>", "letter out of range"),
        ("<answer>A and B</answer>", "more than one letter"),
    ],
)
def test_invalid_answers_score_zero(text, reason):
    env = answer(text)
    assert env.unwrapped.log[0].payload["reason"] == reason and env.rewards == {"user": 0.0}
    judgment = env.unwrapped.judgments["user"]
    assert judgment.dims["valid"] == 0.0 and judgment.error is None and "gold_is_a" in judgment.dims


def test_order_is_the_same_for_every_seed_and_changes_only_with_the_scenario_id():
    assert len({prompt_of(0, seed) for seed in range(6)}) == 1
    assert chosen_letter("10") == "A" and chosen_letter("11") == "B"
    row_10, row_11 = {**ROW, "index": 10}, {**ROW, "index": 11}
    assert f"## Response A\n{ROW['chosen']}" in prompt_of(row_10)
    assert f"## Response B\n{ROW['chosen']}" in prompt_of(row_11)


def test_rows_without_index_do_not_all_share_one_order():
    # The original seeded the order with int(index): rows without one all got the same order, so a
    # constant letter could score 1. Here the id falls back to a content hash.
    rows = [
        {k: v for k, v in ROW.items() if k != "index"} | {"raw_prompt": f"Post number {i}?"}
        for i in range(12)
    ]
    letters = {
        chosen_letter(osim_env.make(ENV_ID, scenario=r).unwrapped._to_scenario(r).scenario_id) for r in rows
    }
    assert letters == {"A", "B"}


def test_order_option_forces_the_gold_position():
    assert f"## Response B\n{ROW['chosen']}" in prompt_of(ROW, order="B")
    assert f"## Response A\n{ROW['chosen']}" in prompt_of({**ROW, "index": 11}, order="A")
    assert answer("<answer>B</answer>", 2, order="B").rewards == {"user": 1.0}
    with pytest.raises(ValueError, match="order must be"):
        osim_env.make(ENV_ID, order="C")


def test_observation_shows_the_user_signals_and_hides_the_labels():
    text = prompt_of(1)
    assert "Example 2\nPost: Best way to fix a squeaky door?" in text and "incomplete pair" not in text
    assert "About this user" not in text and "index" not in text and "11" not in text
    text = prompt_of(2)
    assert "## About this user\nSpeaks casually" in text
    assert "Their comment: bouldering then tacos" in text
    assert "Preferred" not in text  # the current pair is only ever "Response A/B"
    one = prompt_of({**PUBLISHED[1]["extra_info"], "n_icl": 1})
    assert "Example 1" in one and "Example 2" not in one


def test_position_bias_report_exposes_a_constant_letter_policy():
    judgments = [answer("<answer>A</answer>", i).unwrapped.judgments["user"] for i in range(4)]
    report = position_bias(judgments)
    assert report == {"share_a": 1.0, "accuracy_gold_a": 1.0, "accuracy_gold_b": 0.0}
    assert sum(j.score for j in judgments) == 1.0


def test_variant_scores_are_per_variant_and_an_unweighted_mean():
    rows = [s.row.model_dump() for s in alignx.load(FIXTURE)]
    scores = variant_scores([(rows[0], 1.0), (rows[0], 0.0), (rows[1], 1.0), (rows[2], 0.0)])
    assert scores == {"demo": 0.5, "pair": 1.0, "ugc": 0.0, "mean": 0.5}


def test_every_data_source_alias_is_a_variant_and_unknown_ones_fail(tmp_path):
    assert [s.row.variant for s in alignx.load(FIXTURE)] == ["demo", "pair", "ugc", "train"]
    sources = ["alignx_arbitrary", "alignx_history16"]
    rows = [{"data_source": src, "extra_info": {**ROW, "index": i}} for i, src in enumerate(sources)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "ax.parquet")
    assert [s.row.variant for s in alignx.load(tmp_path / "ax.parquet")] == ["arbitrary", "history16"]
    path = write_jsonl(tmp_path / "bad.jsonl", [{"data_source": "alignx_demo_val", "extra_info": ROW}])
    with pytest.raises(RowError) as info:
        alignx.load(path)
    assert info.value.field == "data_source" and "alignx_history16" in str(info.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"chosen": ""}, "chosen"), ({"rejected": "   "}, "rejected"), ({"raw_prompt": None}, "raw_prompt"),
     ({"n_icl": -1}, "n_icl"), ({"icl_pairs": "not a list"}, "icl_pairs")],
)  # fmt: skip
def test_malformed_rows_fail_at_load_naming_file_row_and_field(tmp_path, change, field):
    path = write_jsonl(tmp_path / "ax.jsonl", [ROW, {**ROW, **change}])
    with pytest.raises(RowError) as info:
        alignx.load(path)
    assert (info.value.file, info.value.row, info.value.field) == (str(path), 1, field)
    assert len(alignx.load(path, on_invalid="skip")) == 1


def test_cli_run_stores_episodes_that_replay_exactly(tmp_path, capsys):
    store = scripted_run(
        ENV_ID,
        tmp_path,
        ["<think>short</think><answer>A</answer>", "<answer>B</answer>", "neither"],
        episodes=3,
    )
    episodes = replayed_episodes(store)
    assert len(episodes) == 3 and (episodes["status"] == "ok").all()
    assert set(episodes["score"]) <= {0.0, 1.0}
    capsys.readouterr()
    assert main(["replay", "check", "--store", str(store)]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3
