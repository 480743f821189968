"""soul/humanllm-v0: rank the five items a shopper most likely buys next (MRR@5)."""

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
from scenarios import humanllm
from scenarios.humanllm.judge import HumanLLMJudge, position_bias
from scenarios.humanllm.prompts import context_of

ENV_ID = "soul/humanllm-v0"

FIXTURE = Path("scenarios/humanllm/data/fixture.jsonl")
LINES = FIXTURE.read_text(encoding="utf-8").splitlines()
RUNNER = json.loads(LINES[0])["extra_info"]  # 20 candidates, gold B (index 1)
PARENT = json.loads(LINES[1])["extra_info"]  # prompt in conversations[0].messages[0], gold M, letter "m"
PAINTER = json.loads(LINES[2])["extra_info"]  # 4 candidates: rankings have 4 letters, gold A
GARDENER = json.loads(LINES[3])["extra_info"]  # gold T (index 19), the last candidate


def answer(text: str, scenario=0, **kw):
    env = osim_env.make(ENV_ID, scenario=scenario, **kw)
    env.reset(seed=0)
    env.step(text)
    return env


# -- metric: MRR@5 by hand against the fixture ------------------------------------------------------
@pytest.mark.parametrize(
    ("index", "text", "score", "rank"),
    [
        (0, "gels for long runs <answer>B,A,C,D,E</answer>", 1.0, 1),
        (0, "<answer>H, B, D, A, K</answer>", 1 / 2, 2),
        (0, "<answer>A,C,B,D,E</answer>", 1 / 3, 3),
        (0, "<answer>A,C,D,B,E</answer>", 1 / 4, 4),
        (0, "<answer>A,C,D,E,B</answer>", 1 / 5, 5),
        (0, "<answer>H,D,K,O,F</answer>", 0.0, None),  # gold not among the five
        (1, "<answer>m,a,b,c,d</answer>", 1.0, 1),  # lower case is fine
        (1, "<answer>F, J, M, C, Q</answer>", 1 / 3, 3),
        (2, "<answer>A,B,C,D</answer>", 1.0, 1),  # four candidates: four letters
        (2, "<answer>D,C,B,A</answer>", 1 / 4, 4),
        (3, "<answer>T,S,R,Q,P</answer>", 1.0, 1),
        (3, "<answer>B,H,K,P,T</answer>", 1 / 5, 5),
    ],
)
def test_hand_written_rankings_get_exactly_the_expected_scores(index, text, score, rank):
    env = answer(text, index)
    judgment = env.unwrapped.judgments["user"]
    assert env.rewards["user"] == pytest.approx(score, abs=1e-12) and judgment.error is None
    assert judgment.dims["valid"] == 1.0 and env.unwrapped.status == "ok"
    assert judgment.dims["hit@5"] == float(rank is not None) and judgment.dims["top1"] == float(rank == 1)
    assert judgment.dims.get("rank") == (None if rank is None else float(rank))


def test_mrr_over_the_fixture_by_hand():
    sheet = ["<answer>K,B,H,D,O</answer>", "<answer>C,F,J,Q,M</answer>", "<answer>B,A,C,D</answer>", "T"]
    scores = [answer(text, i).rewards["user"] for i, text in enumerate(sheet)]
    assert scores == [1 / 2, 1 / 5, 1 / 2, 0.0]  # the last is invalid: no tag
    assert sum(scores) / 4 == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("index", "text", "reason"),
    [
        (0, "<answer>C,A,C,B,K</answer>", "need 5 distinct letters"),
        (0, "<answer>C A M B K</answer>", "need 5 distinct letters"),
        (0, "<answer>C ,A,M,B,K</answer>", "need 5 distinct letters"),  # spaces only after commas
        (0, "<answer>C;A;M;B;K</answer>", "need 5 distinct letters"),
        (0, "<answer>C,A,M,B</answer>", "need 5 distinct letters"),
        (0, "<answer>C,A,M,B,K,L</answer>", "need 5 distinct letters"),
        (0, "<answer>CA,M,B,K,L</answer>", "need 5 distinct letters"),
        (0, "<answer>3,1,13,2,11</answer>", "need 5 distinct letters"),
        (0, "<answer>C,A,M,B,U</answer>", "letter out of range"),
        (0, "C,A,M,B,K", "no answer found"),
        (0, "", "no answer found"),
        (0, "<think><answer>B,A,C,D,E</answer></think>", "empty after removing thinking"),
        (2, "<answer>A,B,C,E</answer>", "letter out of range"),
        (2, "<answer>A,B,C,D,E</answer>", "need 4 distinct letters"),
    ],
)
def test_invalid_rankings_score_zero_with_their_reason(index, text, reason):
    env = answer(text, index)
    judgment = env.unwrapped.judgments["user"]
    assert env.rewards == {"user": 0.0} and judgment.score == 0.0 and judgment.error is None
    assert judgment.dims == {"valid": 0.0, "hit@5": 0.0, "top1": 0.0}
    assert judgment.reasons["answer"] == reason
    event = env.unwrapped.log[0]
    assert event.kind == "invalid_action" and event.payload["reason"] == reason
    assert event.payload["raw"] == text and event.visibility == ("user",)
    assert env.infos["user"]["termination"] == "invalid answer"


# -- actions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "ranking"),
    [
        ("<answer>C, A, M, B, K</answer>", ["C", "A", "M", "B", "K"]),
        ("<answer>c,a,m,b,k</answer>", ["C", "A", "M", "B", "K"]),
        ("<answer>A,B,C,D,E</answer> wait <answer>B,H,D,K,O</answer>", ["B", "H", "D", "K", "O"]),
        (
            "<think><answer>A,B,C,D,E</answer></think>Gels. <answer>B,H,D,K,O</answer>",
            ["B", "H", "D", "K", "O"],
        ),
        ("<answer>  T,S,R,Q,P </answer>", ["T", "S", "R", "Q", "P"]),
    ],
)
def test_actions_table(text, ranking):
    env = answer(text, 0)
    event = env.unwrapped.log[0]
    assert event.kind == "message" and event.payload["ranking"] == ranking and event.payload["raw"] == text
    assert env.infos["user"]["termination"] == "answered"
    assert all(env.terminations.values()) and not any(env.truncations.values())


# -- departures from the original (docs/tasks.md#humanllm): its behaviour fails these --------------
def test_the_last_answer_tag_wins_and_spaces_after_commas_are_accepted():
    env = answer("<answer>B,A,C,D,E</answer> second thoughts: <answer>A, C, D, E, B</answer>", 0)
    assert env.rewards["user"] == pytest.approx(0.2)  # the original takes the first tag: 1.0
    assert answer("<answer>C, A, M, B, K</answer>", 1).rewards["user"] == pytest.approx(
        1 / 3
    )  # original: invalid


def test_an_out_of_range_gold_fails_at_load_not_mid_run(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({**RUNNER, "answer_index": 20}) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        humanllm.load(path)
    assert info.value.field == "answer_index" and "0..19" in info.value.reason


def test_a_failing_judge_is_an_error_not_a_score():
    with pytest.warns(RuntimeWarning, match="judge"):
        env = answer("<answer>B,A,C,D,E</answer>", 0, judge=FailingJudge())
    assert env.unwrapped.status == "judge_error"
    assert env.infos["user"]["score"] is None and "timed out" in env.infos["user"]["judge_error"]
    assert env.rewards == {"user": 0.0}


def test_the_rule_judge_fails_on_a_record_whose_row_does_not_validate():
    env = answer("<answer>B,A,C,D,E</answer>", 0, judge=False)
    record = env.unwrapped.episode_record()
    broken = record.model_copy(update={"scenario": {**record.scenario, "answer_index": 25}})
    judgment = HumanLLMJudge().judge_episode(broken)["user"]
    assert judgment.score is None and "not a HumanLLM row" in judgment.error
    assert HumanLLMJudge().judge_episode(record)["user"].score == 1.0


# -- observations ----------------------------------------------------------------------------------
def observation(scenario, seed: int = 0):
    env = osim_env.make(ENV_ID, scenario=scenario)
    env.reset(seed=seed)
    return env.observe("user")["messages"]


def test_observation_relabels_the_candidates_and_puts_each_history_entry_on_its_own_line():
    system, user = observation(0)
    assert "shopper" in system["content"] and "<answer>X1,X2,X3,X4,X5</answer>" in system["content"]
    content = user["content"]
    assert content.startswith("User description: amateur trail runner")
    assert "Purchase history:\nHistory 1: trail running shoes, size 42\nHistory 2: running socks" in content
    assert "Candidates:\nA: electric kettle\nB: energy gels, 12 pack\n" in content
    assert "\nT: umbrella stand\n" in content and "\nU:" not in content
    assert "Candidate 1:" not in content and "candidate number" not in content  # replaced
    assert content.endswith("5 distinct letters from A to T, separated by commas.")


def test_a_row_with_four_candidates_asks_for_four_letters():
    system, user = observation(2)
    assert "<answer>X1,X2,X3,X4</answer>" in system["content"] and "4 distinct" in system["content"]
    assert "D: plant pot" in user["content"] and "from A to D" in user["content"]


def test_the_gold_is_never_shown():
    moved = {**RUNNER, "answer_index": 7, "answer_letter": "H", "answer_text": "gaiters for trail shoes"}
    assert observation(RUNNER) == observation(moved)
    assert "answer_index" not in json.dumps(observation(RUNNER))


def test_the_wrapped_prompt_and_seeds():
    assert observation(1)[1]["content"].startswith("User description: new parent")
    assert observation(None, seed=4) == observation(None, seed=4)
    assert context_of(humanllm.load(FIXTURE)[2].row).endswith("History 3: masking fluid")


# -- rows ------------------------------------------------------------------------------------------
def test_fixture_rows_and_aliases():
    rows = humanllm.load(FIXTURE)
    assert [s.scenario_id for s in rows] == [f"humanllm-fx-{i}" for i in range(4)]
    assert [s.row.gold_letter for s in rows] == ["B", "M", "A", "T"] and [s.row.k for s in rows] == [
        5,
        5,
        4,
        5,
    ]
    assert rows[1].row.answer_letter == "M"  # "m" in the data
    assert rows[1].row.prompt_text == PARENT["conversations"][0]["messages"][0]["content"]
    assert rows[0].row.split == "val" and rows[0].row.task == "item_selection"


def test_published_parquet_layout_with_string_encoded_lists(tmp_path):
    rows = [
        {
            "data_source": "humanllm",
            "extra_info": {
                **RUNNER,
                "candidates": json.dumps(RUNNER["candidates"]),
                "answer_index": 1.0,
                "index": "r",
            },
        },
        {
            "data_source": "humanllm",
            "extra_info": {
                **{k: v for k, v in PARENT.items() if k != "conversations"},
                "conversations": json.dumps(PARENT["conversations"]),
                "candidates": json.dumps(PARENT["candidates"]),
                "answer_index": 12.0,
                "index": "p",
            },
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "humanllm.parquet")
    loaded = humanllm.load(tmp_path / "humanllm.parquet")
    assert [s.scenario_id for s in loaded] == ["r", "p"] and loaded[0].row.candidates == RUNNER["candidates"]
    assert loaded[1].row.candidates == PARENT["candidates"] and loaded[1].row.answer_index == 12
    env = osim_env.make(ENV_ID, scenario=loaded[1])
    env.reset(seed=0)
    env.step("<answer>F,M,J,C,Q</answer>")
    assert env.rewards == {"user": 0.5}


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({**RUNNER, "answer_index": 20}, "answer_index", "within 0..19"),
        ({**RUNNER, "answer_index": -1}, "answer_index", "within 0..19"),
        ({**RUNNER, "answer_index": "B"}, "answer_index", "whole number"),
        ({k: v for k, v in RUNNER.items() if k != "answer_index"}, "answer_index", "Field required"),
        ({k: v for k, v in RUNNER.items() if k != "candidates"}, "candidates", "Field required"),
        ({**RUNNER, "candidates": ["only one"], "answer_index": 0}, "candidates", "2 to 20 candidates"),
        ({**RUNNER, "candidates": [*RUNNER["candidates"], "extra"]}, "candidates", "got 21"),
        ({**RUNNER, "candidates": ["x", " ", "y"]}, "candidates", "blank"),
        ({**RUNNER, "answer_letter": "C"}, "answer_letter", "answer_index 1 is letter B"),
        ({**RUNNER, "answer_text": "mechanical keyboard"}, "answer_text", "candidate 1 is"),
        ({**RUNNER, "prompt_text": RUNNER["prompt_text"].split("Candidate 1:")[0]}, "prompt_text", "marker"),
        ({k: v for k, v in PARENT.items() if k != "conversations"}, "prompt_text", "Field required"),
    ],
)
def test_malformed_rows_raise_row_errors_naming_file_row_and_field(tmp_path, bad, field, message):
    path = tmp_path / "humanllm.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (RUNNER, bad, PAINTER)) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        humanllm.load(path)
    assert info.value.file == str(path) and info.value.row == 1 and info.value.field == field
    assert message in str(info.value)
    with pytest.warns(UserWarning, match="skipped 1 invalid"):
        assert len(humanllm.load(path, on_invalid="skip")) == 2


@pytest.mark.parametrize("source", ["human_llm", "HumanLLM", "socsci210", "math"])
def test_only_the_canonical_data_source_is_accepted(tmp_path, source):
    path = tmp_path / "mixed.jsonl"
    rows = [{"data_source": "humanllm", "extra_info": RUNNER}, {"data_source": source, "extra_info": RUNNER}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(RowError) as info:
        humanllm.load(path)
    assert info.value.row == 1 and info.value.field == "data_source"


# -- the position-bias detector --------------------------------------------------------------------
def test_position_bias():
    report = position_bias([("A", "B", "C", "D", "E"), ("A", "H", "B", "K", "O"), ("B", "H", "D", "K", "O")])
    assert report.n == 3 and report.starts_with_a == pytest.approx(2 / 3)
    assert report.in_candidate_order == pytest.approx(1 / 3)  # only A,B,C,D,E follows the candidate order
    assert position_bias([("B", "D", "H", "K", "O")]).in_candidate_order == 1.0
    assert position_bias([("K", "B", "H", "D", "O")]).in_candidate_order == 0.0
    assert position_bias([]).n == 0 and position_bias([]).starts_with_a is None


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
            [
                "<answer>B, A, C, D, E</answer>",
                "<answer>A,A,B,C,D</answer>",
                "no idea",
                "<answer>T,S,R,Q</answer>",
            ],
            episodes=6,
        )
    )
    assert len(episodes) == 6 and set(episodes["status"]) == {"ok"}


def test_a_failed_policy_call_fails_the_episode_instead_of_scoring_zero(tmp_path):
    runner = Runner(tmp_path / "f.duckdb", roles={"user": FakeFailingPolicy(["x"])}, progress=False)
    summary = runner.run(jobs_for(ENV_ID, 2, seed=0, scenarios=[0, 1]))
    assert (summary.ok, summary.failed) == (0, 2)
    with ReplayStore(tmp_path / "f.duckdb", read_only=True) as store:
        episodes = store.episodes(runner.run_id)
        assert set(episodes["status"]) == {"failed"} and episodes["score"].isna().all()
        assert all("503" in reason for reason in episodes["reason"])
