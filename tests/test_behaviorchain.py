"""BehaviorChain (docs/tasks.md#behaviorchain): loader, extraction, metric, observation, chain metrics,
conformance, CLI and replay."""

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
from scenarios import behaviorchain
from scenarios.behaviorchain.judge import chain_metrics
from scenarios.behaviorchain.prompts import CUT_MARKER

ENV_ID = "soul/behaviorchain-v0"

FIXTURE = Path("scenarios/behaviorchain/data/fixture.jsonl")
ROW = json.loads(FIXTURE.read_text().splitlines()[0])["extra_info"]


def answer(text: str, row=ROW, **options):
    env = osim_env.make(ENV_ID, scenario=row, **options)
    env.reset(seed=0)
    env.step(text)
    return env


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("index", "text", "score"),
    [(0, "<answer>B</answer>", 1.0), (0, "<answer>A</answer>", 0.0), (1, "<answer>D</answer>", 1.0),
     (1, "<answer>C</answer>", 0.0), (2, "Pride. <answer>a</answer>", 1.0), (2, "<answer>B</answer>", 0.0)],
)  # fmt: skip
def test_hand_written_answers_score_exactly(index, text, score):
    env = answer(text, row=index)
    assert env.rewards == {"persona": score}
    assert env.unwrapped.judgments["persona"].dims == {"valid": 1.0, "correct": score}


@pytest.mark.parametrize(
    ("text", "reason"),
    [("B seems right", "no answer found"), ("<answer>E</answer>", "letter out of range"),
     ("<answer>B, C</answer>", "more than one letter")],
)  # fmt: skip
def test_invalid_answers_score_zero_with_a_reason(text, reason):
    env = answer(text)
    assert env.unwrapped.log[0].payload["reason"] == reason and env.rewards == {"persona": 0.0}
    judgment = env.unwrapped.judgments["persona"]
    assert judgment.dims["valid"] == 0.0 and judgment.error is None


def test_tags_inside_thinking_do_not_count_and_the_last_tag_wins():
    # The original read the first tag of the raw response, thinking included: both would score 1 there.
    assert answer("<think><answer>B</answer></think><answer>C</answer>").rewards == {"persona": 0.0}
    env = answer("<think><answer>B</answer></think>no tag")
    assert env.unwrapped.log[0].kind == "invalid_action" and env.rewards == {"persona": 0.0}
    assert answer("<answer>B</answer> on reflection <answer>A</answer>").rewards == {"persona": 0.0}


def test_observation_has_every_section_and_no_gold():
    env = osim_env.make(ENV_ID, scenario=ROW)
    env.reset(seed=0)
    messages = env.observe("persona")["messages"]
    assert [m["role"] for m in messages] == ["user"]
    text = messages[0]["content"]
    for needle in (
        ROW["profile_text"],
        "## Historical Narrative",
        "Chapter 1\nIlse takes over",
        "Step 1:\nContext:",
        "Behavior: Ilse hands over copies",
        ROW["current_context"],
        "A. She thanks him",
        "D. She leaves",
    ):
        assert needle in text  # fmt: skip
    assert "fixture-ilse" not in text and "right_option" not in text
    env = osim_env.make(ENV_ID, scenario={**ROW, "prior_chain": [], "profile_text": ""})
    env.reset(seed=0)
    assert env.observe("persona")["messages"][0]["content"].count("(none)") == 2


def test_max_history_chars_drops_the_oldest_chapters_only():
    chapters = [f"Chapter {i}: " + "x" * 50 for i in range(1, 5)]
    row = {**ROW, "history_truncated": chapters}
    env = osim_env.make(ENV_ID, scenario=row, max_history_chars=130)
    env.reset(seed=0)
    text = env.observe("persona")["messages"][0]["content"]
    assert CUT_MARKER in text and "Chapter 1" not in text and "Chapter 2" not in text
    assert "Chapter 3" in text and "Chapter 4" in text
    assert ROW["profile_text"] in text and "D. She leaves the island for good." in text
    with pytest.raises(ValueError, match="max_history_chars"):
        osim_env.make(ENV_ID, max_history_chars=0)


def test_raw_json_string_and_object_aliases_and_published_parquet(tmp_path):
    loaded = behaviorchain.load(FIXTURE)
    assert [s.scenario_id for s in loaded] == ["bc-fx-0", "bc-fx-1", "bc-fx-2"]
    assert loaded[1].row.options_dict["D"].startswith("She keeps the door chained")  # list alias
    assert loaded[2].row.history_truncated[1].startswith("Lotte finds salt")  # raw as a JSON string
    rows = [
        {"data_source": "behaviorchain", "extra_info": {"raw": json.dumps(ROW), "index": "p0"}},
        {"data_source": "behavior_chain", "extra_info": {"raw": json.dumps(ROW), "index": "p1"}},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bc.parquet")
    parquet = behaviorchain.load(tmp_path / "bc.parquet")
    assert [(s.scenario_id, s.row.right_option_letter) for s in parquet] == [("p0", "B"), ("p1", "B")]
    path = write_jsonl(tmp_path / "bc.jsonl", [{"data_source": "behaviorchain", "extra_info": {"raw": ROW}}])
    assert behaviorchain.load(path)[0].row.model_dump(exclude={"index"}) == parquet[0].row.model_dump(
        exclude={"index"}
    )


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [({"right_option_letter": "E"}, "right_option_letter", "must be one of A-D"),
     ({"options_dict": {"A": "x", "B": "y", "C": "", "D": "z"}}, "options_dict", "non-empty"),
     ({"options_dict": ["x", "y", "z"]}, "options_dict", "keys A, B, C, D"),
     ({"current_context": ""}, "current_context", "at least 1 character")],
)  # fmt: skip
def test_malformed_rows_fail_at_load_naming_file_row_and_field(tmp_path, change, field, reason):
    path = write_jsonl(tmp_path / "bc.jsonl", [ROW, {**ROW, **change}])
    with pytest.raises(RowError) as info:
        behaviorchain.load(path)
    assert (info.value.file, info.value.row, info.value.field) == (str(path), 1, field)
    assert reason in str(info.value)
    assert len(behaviorchain.load(path, on_invalid="skip")) == 1


def test_unknown_data_source_is_rejected(tmp_path):
    path = write_jsonl(tmp_path / "bc.jsonl", [{"data_source": "behavior-chain", "extra_info": ROW}])
    with pytest.raises(RowError) as info:
        behaviorchain.load(path)
    assert info.value.field == "data_source" and "behaviorchain" in str(info.value)


def test_gold_letter_distribution_flags_a_skew():
    rows = behaviorchain.load(FIXTURE)
    report = behaviorchain.gold_letter_distribution(rows)
    assert report["n"] == 3 and report["shares"]["C"] == 0.0 and report["skewed"] is False
    assert behaviorchain.gold_letter_distribution([rows[0], rows[0], rows[1]])["skewed"] is True


def test_chain_metrics_on_a_hand_worked_example():
    # persona p: steps 1..4 correct, correct, wrong, correct -> runs 1,2,0,1 -> 4/10; longest 2/4.
    nodes = [("p", 3, False), ("p", 1, True), ("p", 4, True), ("p", 2, True), ("q", 1, False)]
    metrics = chain_metrics(nodes)
    assert metrics == {
        "accuracy": (0.75 + 0.0) / 2,
        "consecutive_accuracy": (0.4 + 0.0) / 2,
        "max_chain_accuracy": (0.5 + 0.0) / 2,
        "personas": 2.0,
    }


def test_cli_run_stores_episodes_that_replay_exactly(tmp_path, capsys):
    store = scripted_run(
        ENV_ID,
        tmp_path,
        ["<think>chain</think><answer>B</answer>", "<answer>D</answer>", "no tag"],
        episodes=3,
    )
    episodes = replayed_episodes(store)
    assert len(episodes) == 3 and (episodes["status"] == "ok").all()
    assert set(episodes["score"]) <= {0.0, 1.0}
    capsys.readouterr()
    assert main(["replay", "check", "--store", str(store)]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3
