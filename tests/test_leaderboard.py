"""The leaderboard on a small store whose numbers are computed by hand: task scores with CI, n, n_error,
invalid and flag rates, breakdowns, the SOUL average on both Sotopia scales, MirrorBench's lexical
z-scores, UserLLM's PRISM and subset scores (checked against ``scenarios.userllm.judge.subset_scores``
too), the human-likeness profile, the output formats and the plot.

Episodes are real: real envs played by scripted policies through the runner into a real DuckDB file.
Their judgments come from a scripted judge (docs/tasks.md: tests use scripted policies and a scripted
judge) that returns the values written below, so every aggregate has a hand-computed expectation.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from judges.judgment import Judgment
from osim import leaderboard
from osim.runner import Runner, jobs_for
from policies.scripted import ScriptedPolicy
from replays import ReplayStore
from scenarios.userllm.judge import subset_scores
from scenarios.userllm.prompts import END_TOKEN

FLAGGED = {"length": {"detector": "length", "flagged": True, "severity": "medium", "evidence": ["x"]}}
CLEAN = {"length": {"detector": "length", "flagged": False, "severity": "none", "evidence": []}}


class ScriptedJudge:
    """Returns the judgment written for each episode seed (kwargs of ``Judgment``; ``error`` fails it)."""

    spec: dict[str, Any] = {"kind": "scripted-test-judge"}

    def __init__(self, table: Mapping[int, Mapping[str, Any]]) -> None:
        self.table = table

    def judge_episode(self, record: Any) -> dict[str, Judgment]:
        values = dict(self.table[record.seed])
        agent = record.policy_agents[0]
        if "error" in values:  # a failed judgment keeps what it carries besides (e.g. lexical dims)
            return {agent: Judgment.failed(agent, values.pop("error"), self.spec, **values)}
        return {agent: Judgment(agent=agent, judge=self.spec, **values)}


def _run(
    store: Path,
    label: str,
    env_id: str,
    scenarios: Sequence[int],
    actions: Sequence[str],
    table: Mapping[int, Mapping[str, Any]],
    *,
    options: Mapping[str, Any] | None = None,
    cycle: bool = True,
    roles: Mapping[str, Any] | None = None,
) -> str:
    """Episodes seeds 0.. of ``scenarios`` (fixture indexes), one at a time (scripted actions in order)."""
    runner = Runner(
        store,
        policy=ScriptedPolicy(actions, cycle=cycle, name=label),
        roles={"agent2": ScriptedPolicy(['{"action_type": "leave", "argument": ""}'])}
        if env_id == "soul/sotopia-v0"
        else roles,
        judge=ScriptedJudge(table),
        concurrency=1,
        config={"sweep": {"policy": label}},
        progress=False,
    )
    return runner.run(
        jobs_for(env_id, len(scenarios), seed=0, scenarios=list(scenarios), options=options)
    ).run_id


def _answer(letter: str) -> str:
    return f"I think so. <answer>{letter}</answer>"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leaderboard") / "runs.duckdb"
    # Hi-ToM, P1: scores 1, 0 (invalid: no answer tag), 1, a judge error and a failed episode (the
    # script runs out); one flagged judgment.
    _run(
        path, "P1", "soul/hitom-v0", [0, 1, 2, 3, 4],
        [_answer("A"), "no tag at all", _answer("B"), _answer("C")],
        {
            0: {"score": 1.0, "flags": FLAGGED},
            1: {"score": 0.0, "flags": CLEAN},
            2: {"score": 1.0, "flags": CLEAN},
            3: {"error": "judge model timed out"},
        },
        cycle=False,
    )  # fmt: skip
    _run(path, "P2", "soul/hitom-v0", [0, 1], [_answer("A")], {0: {"score": 0.0}, 1: {"score": 0.0}})
    # Sotopia, P1: normalized scores 0.6 and 0.8, paper scale 0.3 and 0.5, goal 4 and 6.
    _run(
        path, "P1", "soul/sotopia-v0", [0, 1], ['{"action_type": "speak", "argument": "hello"}'],
        {
            0: {"score": 0.6, "dims": {"goal": 4.0, "paper_scale": 0.3}},
            1: {"score": 0.8, "dims": {"goal": 6.0, "paper_scale": 0.5}},
        },
        options={"max_turns": 2},
    )  # fmt: skip
    # MirrorBench, P1: rows 0 and 3 are oasst1, row 1 arena; MATTR proxy 0.5/0.7/0.6, human 0.8/1.0/0.9.
    _run(
        path, "P1", "soul/mirrorbench-v0", [0, 3, 1], ["hi there"],
        {
            0: {"score": 0.2, "dims": {"gteval": 0.2, "proxy.mattr": 0.5, "human.mattr": 0.8}},
            1: {"score": 0.4, "dims": {"gteval": 0.4, "proxy.mattr": 0.7, "human.mattr": 1.0}},
            2: {"error": "gteval failed", "dims": {"proxy.mattr": 0.6, "human.mattr": 0.9}},
        },
    )  # fmt: skip
    # AlignX, P1: rows 0 (demo, twice), 1 (pair), 2 (ugc): demo 1 and 0, pair 1, ugc 1. The task's score
    # is the mean over variants, (0.5 + 1 + 1) / 3, not the episode mean 0.75.
    _run(
        path, "P1", "soul/alignx-v0", [0, 0, 1, 2], [_answer("A")],
        {0: {"score": 1.0}, 1: {"score": 0.0}, 2: {"score": 1.0}, 3: {"score": 1.0}},
    )  # fmt: skip
    # SimulatorArena math, P1: components w, i, f and the original formula; f does not apply to the
    # second episode (left out of its mean, never 0).
    _run(
        path, "P1", "soul/simarena-math-v0", [0, 1], ["Student: so the answer is 12? terminate conversation"],
        {
            0: {"score": 0.5, "dims": {"w": 0.5, "i": 0.25, "f": 0.75, "score_odyssim": 0.6}},
            1: {"score": 0.75, "dims": {"w": 1.0, "i": 0.5, "score_odyssim": 0.8}},
        },
        roles={"tutor": ScriptedPolicy(["Let us check it together."])},
    )  # fmt: skip
    _userllm(path)
    return path


# UserLLM fixture rows: 0 CSQA, 1 NQ, 2 PRISM first turn, 3 PRISM sequential (not the last turn),
# 4 PRISM sequential (the last turn).
USERLLM_ROWS = [0, 0, 1, 2, 2, 2, 4, 3, 3]
USERLLM_ACTIONS = [
    "which one is it?",
    "which one is it?",
    "what year was it built",
    "cheap flights to rome",
    "cheap flights to oslo",
    "best pizza dough",
    f"thanks {END_TOKEN}",
    f"ok bye {END_TOKEN}",
    "and the second day?",
]


def _prism(
    first: bool, human_like: float, overlap: float, ended: bool, correct: bool | None
) -> dict[str, Any]:
    dims = {"valid": 1.0, "ended": float(ended), "first_turn": float(first), "intent_overlap": overlap}
    dims["human_like"] = human_like
    if correct is not None:
        dims["termination_correct"] = float(correct)
    return {"score": 0.5, "dims": dims}


def _userllm(path: Path) -> None:
    table = {
        0: {"score": 1.0, "dims": {"valid": 1.0}},
        1: {"score": 0.0, "dims": {"valid": 1.0}},
        2: {"score": 1.0, "dims": {"valid": 1.0}},
        3: _prism(True, 1.0, 0.1, False, None),
        4: _prism(True, 0.0, 0.2, False, None),
        5: _prism(True, 1.0, 0.3, False, None),
        6: _prism(False, 1.0, 0.0, True, True),  # last turn, ended: true positive
        7: _prism(False, 1.0, 0.4, True, False),  # not last, ended: false positive
        8: _prism(False, 0.0, 0.2, False, True),  # not last, went on: true negative
    }
    _run(path, "P1", "soul/userllm-v0", USERLLM_ROWS, USERLLM_ACTIONS, table)


@pytest.fixture(scope="module")
def board(store: Path) -> leaderboard.Leaderboard:
    with ReplayStore(store, read_only=True) as s:
        return leaderboard.build(s)


def _task(board: leaderboard.Leaderboard, policy: str, task: str) -> dict[str, Any]:
    rows = board.tasks[(board.tasks["policy"] == policy) & (board.tasks["task"] == task)]
    assert len(rows) == 1, board.tasks
    return rows.iloc[0].to_dict()


def _breakdown(
    board: leaderboard.Leaderboard, task: str, breakdown: str, policy: str = "P1"
) -> dict[str, float]:
    b = board.breakdowns
    rows = b[(b["task"] == task) & (b["breakdown"] == breakdown) & (b["policy"] == policy)]
    return dict(zip(rows["key"], rows["value"]))


def test_task_scores_exclude_errors_and_count_invalid_actions_and_flags(
    board: leaderboard.Leaderboard,
) -> None:
    hitom = _task(board, "P1", "soul/hitom-v0")
    assert (hitom["n"], hitom["n_error"], hitom["n_failed"]) == (3, 1, 1)
    assert hitom["score"] == pytest.approx(2 / 3)
    assert hitom["ci95"] == pytest.approx(1.96 * math.sqrt(1 / 3) / math.sqrt(3))
    assert hitom["invalid_rate"] == pytest.approx(1 / 3)
    assert hitom["flag_rate"] == pytest.approx(1 / 3)
    assert _task(board, "P2", "soul/hitom-v0")["score"] == 0.0
    assert _breakdown(board, "soul/hitom-v0", "flag") == {"length": pytest.approx(1 / 3)}


def test_breakdowns_read_scenario_fields_and_dims(board: leaderboard.Leaderboard) -> None:
    # Hi-ToM fixture rows 0, 1, 2 have question orders 2, 1, 0 and deception False, False, True.
    assert _breakdown(board, "soul/hitom-v0", "question_order") == {"2": 1.0, "1": 0.0, "0": 1.0}
    assert _breakdown(board, "soul/hitom-v0", "deception") == {"false": 0.5, "true": 1.0}
    dims = _breakdown(board, "soul/sotopia-v0", "dimension")
    assert dims == {"goal": pytest.approx(5.0), "paper_scale": pytest.approx(0.4)}
    assert _breakdown(board, "soul/mirrorbench-v0", "subset") == {"oasst1": pytest.approx(0.3)}


def test_sotopia_on_both_scales_and_the_soul_average(board: leaderboard.Leaderboard) -> None:
    sotopia = _task(board, "P1", "soul/sotopia-v0")
    assert sotopia["score"] == pytest.approx(0.7) and sotopia["paper_scale"] == pytest.approx(0.4)
    userllm = (0.5 + 1.0 + (0.8 + 2 / 3 + 2 / 3 + 0.8) / 4) / 3
    tasks = {"hitom": 2 / 3, "sotopia": 0.7, "mirrorbench": 0.3, "userllm": userllm}
    avg = board.averages.set_index("policy").loc["P1"]
    assert avg["soul_average"] == pytest.approx(sum(tasks.values()) / 4)
    assert avg["soul_average_paper"] == pytest.approx((sum(tasks.values()) - 0.7 + 0.4) / 4)
    assert not avg["complete"] and avg["tasks"] == 4
    assert set(avg["missing"].split(",")) == {
        "fantom",
        "tomi",
        "coser",
        "lifechoices",
        "mistakes",
        "twinvoice",
    }


def test_alignx_is_one_task_scored_by_the_mean_of_its_variants(board: leaderboard.Leaderboard) -> None:
    variants = _breakdown(board, "soul/alignx-v0", "variant")
    assert variants == {"alignx_demo": 0.5, "alignx_pair": 1.0, "alignx_ugc": 1.0}
    alignx = _task(board, "P1", "soul/alignx-v0")
    assert alignx["score"] == pytest.approx(2.5 / 3) and math.isnan(alignx["ci95"]) and alignx["n"] == 4


def test_simarena_components_leave_out_what_does_not_apply(board: leaderboard.Leaderboard) -> None:
    components = _breakdown(board, "soul/simarena-math-v0", "component")
    assert components == {
        "w": pytest.approx(0.75),
        "i": pytest.approx(0.375),
        "f": pytest.approx(0.75),
        "score_odyssim": pytest.approx(0.7),
    }


def test_soul_index_and_its_category_means(board: leaderboard.Leaderboard) -> None:
    userllm = (0.5 + 1.0 + (0.8 + 2 / 3 + 2 / 3 + 0.8) / 4) / 3
    tasks = {
        "hitom": 2 / 3,
        "sotopia": 0.7,
        "mirrorbench": 0.3,
        "userllm": userllm,
        "alignx": 2.5 / 3,
        "simarena-math": 0.625,
    }
    avg = board.averages.set_index("policy").loc["P1"]
    assert avg["soul_index"] == pytest.approx(sum(tasks.values()) / 6)
    assert avg["index_tasks"] == 6 and not avg["index_complete"]
    assert len(avg["index_missing"].split(",")) == 23 - 6 and "humanual-chat" in avg["index_missing"]
    assert avg["conversation"] == pytest.approx((userllm + 0.3) / 2)
    assert avg["social_skill"] == pytest.approx(0.7)
    assert avg["cognition"] == pytest.approx(2 / 3)
    assert avg["role_play"] == pytest.approx(0.625)
    assert avg["evaluation"] == pytest.approx(2.5 / 3)
    paper = ("hitom", "sotopia", "mirrorbench", "userllm")
    assert avg["soul_average"] == pytest.approx(sum(tasks[t] for t in paper) / 4)  # the ten paper tasks only
    header, rows = leaderboard.score_matrix(board)
    lines = {row[0]: row[header.index("P1")] for row in rows}
    assert lines["SOUL-Index"].startswith(f"{sum(tasks.values()) / 6:.3f} (incomplete: 6/23")
    assert lines["SOUL-Index social skill"] == "0.700"
    assert lines["SOUL-Index conversation"].endswith("(incomplete: 2/4)")
    assert lines["SOUL-Index role play"] == "0.625 (incomplete: 1/9)"


def test_mirrorbench_lexical_z_scores_against_the_human_side(board: leaderboard.Leaderboard) -> None:
    z = _breakdown(board, "soul/mirrorbench-v0", "lexical_z")
    assert z["mattr"] == pytest.approx((0.6 - 0.9) / 0.1)  # judge errors keep their lexical values
    assert z["mattr@oasst1"] == pytest.approx((0.6 - 0.9) / math.sqrt(0.02))
    assert math.isnan(z["mattr@arena"])  # one episode: no spread
    mirror = _task(board, "P1", "soul/mirrorbench-v0")
    assert (mirror["n"], mirror["n_error"], mirror["score"]) == (2, 1, pytest.approx(0.3))


def test_userllm_prism_metrics_and_subset_mean(board: leaderboard.Leaderboard, store: Path) -> None:
    prism = _breakdown(board, "soul/userllm-v0", "prism")
    assert prism["first_turn_diversity"] == pytest.approx(1 - (3 / 5 + 0 + 0) / 3)
    assert prism["termination_f1"] == pytest.approx(2 / 3)
    assert prism["ai_rate"] == pytest.approx(1 / 3)
    assert prism["intent_overlap"] == pytest.approx(0.2)
    subsets = _breakdown(board, "soul/userllm-v0", "subset")
    expected = {"csqa": 0.5, "nq": 1.0, "prism": (0.8 + 2 / 3 + 2 / 3 + 0.8) / 4}
    assert subsets == pytest.approx(expected)
    row = _task(board, "P1", "soul/userllm-v0")
    assert row["score"] == pytest.approx(sum(expected.values()) / 3) and math.isnan(row["ci95"])
    with ReplayStore(store, read_only=True) as s:  # the SQL agrees with the task's Python definition
        records = list(s.records(env_id="soul/userllm-v0"))
        items = [(r, j) for r in records for j in s.judgments(r.episode_id)]
    python = subset_scores(items)
    assert python["score"] == pytest.approx(row["score"]) and python["prism"] == pytest.approx(
        expected["prism"]
    )


def test_human_likeness_profile_compares_policy_text_with_the_reference(
    board: leaderboard.Leaderboard,
) -> None:
    profile = board.profile[board.profile["policy"] == "P1"].set_index("side")
    assert profile.loc["policy", "words_per_turn"] == 2.0  # every user turn was "hi there"
    assert profile.loc["policy", "type_token_ratio"] == pytest.approx(2 / 14)
    assert profile.loc["policy", "formatting_rate"] == 0.0
    # Fixture rows 0, 3 and 1 have 2, 2 and 3 user turns; the proxy played each of them.
    assert profile.loc["human", "turns"] == 7 and profile.loc["policy", "turns"] == 7
    assert profile.loc["human", "words_per_turn"] > 2.0


def _osim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osim.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_formats_carry_every_column(store: Path) -> None:
    result = _osim("leaderboard", "--store", str(store), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"tasks", "averages", "breakdowns", "profile"}
    assert set(data["tasks"][0]) == set(leaderboard.TASK_COLUMNS)
    csv = _osim("leaderboard", "--store", str(store), "--format", "csv").stdout.splitlines()
    assert csv[0] == ",".join(leaderboard.TASK_COLUMNS)
    assert any("SOUL average (incomplete" in line for line in csv)
    assert any("SOUL-Index (incomplete: 6/23" in line for line in csv)
    assert any(line.startswith("P1,SOUL-Index social skill,0.7,") for line in csv)
    markdown = _osim("leaderboard", "--store", str(store), "--format", "markdown").stdout
    assert "| hitom |" in markdown and "paper 0.400" in markdown and "lexical_z" in markdown
    table = _osim("leaderboard", "--store", str(store))
    assert table.returncode == 0 and "SOUL average" in table.stdout and "incomplete" in table.stdout
    unknown = _osim("leaderboard", "--store", str(store), "--runs", "nope")
    assert unknown.returncode == 2 and unknown.stderr.startswith("osim: error: no run 'nope'")


def test_plot_is_a_png_and_an_svg(store: Path, tmp_path: Path) -> None:
    import matplotlib.image

    out = tmp_path / "board.png"
    result = _osim("leaderboard", "--store", str(store), "--plot", str(out), "--format", "csv")
    assert result.returncode == 0, result.stderr
    image = matplotlib.image.imread(out)
    assert image.shape == (660, 1800, 4)  # 15 x 5.5 inches at 120 dpi, RGBA
    assert out.stat().st_size > 20_000 and image[..., :3].std() > 0.05  # drawn, not blank
    svg = out.with_suffix(".svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "P1" in svg and "P2" in svg


def test_tau_user_usi_per_policy_from_the_stored_episodes(tmp_path: Path) -> None:
    import osim_env
    from scenarios.tau_user import usi as usi_module

    tau = "soul/tau-user-v0"
    if tau not in osim_env.registry():  # until its entry point is installed
        osim_env.register(tau, "scenarios.tau_user.env:env")
    path = tmp_path / "tau.duckdb"
    user = ScriptedPolicy(
        ["hi", "ana.rios@example.org please", "###STOP###", "cancel R1003, thanks", "###STOP###"]
    )
    runner = Runner(path, policy=user, config={"sweep": {"policy": "U"}}, concurrency=1, progress=False)
    runner.run(jobs_for(tau, 2, seed=0, scenarios=[0, 2], options={"agent": "oracle"}))
    reference = {
        "features": {"short_msg_rate": 0.5, "politeness_rate": 0.25, "pivot_rate": 0.0},
        "tasks": {
            "bike_rental/0": {"success": 0.5, "bin": "easy"},
            "bike_rental/2": {"success": 1.0, "bin": "hard"},
        },
    }
    with ReplayStore(path, read_only=True) as s:
        board = leaderboard.build(s, human_reference=reference)
        records = list(s.records(env_id=tau))
        rewards = [s.judgments(r.episode_id)[0].dims["task_reward"] for r in records]
    expected = usi_module.usi(records, reference, rewards)
    got = _breakdown(board, tau, "usi", policy="U")
    assert got["usi"] == pytest.approx(expected["usi"]) and got["D1"] == pytest.approx(expected["D1"])
    assert got["outcome"] == pytest.approx(expected["outcome"])
    assert _breakdown(board, tau, "component", policy="U")["task_reward"] == pytest.approx(sum(rewards) / 2)
    assert "tau-user" not in board.averages["missing"].iloc[0]  # reported apart from the SOUL average
    bad = tmp_path / "reference.json"
    bad.write_text(json.dumps({"tasks": {"airline/0": {"success": 1.0}}}))
    result = _osim("leaderboard", "--store", str(path), "--human-reference", str(bad))
    assert result.returncode == 2 and "--human-reference" in result.stderr
