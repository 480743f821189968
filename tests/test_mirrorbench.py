"""soul/mirrorbench-v0: rows, the scripted turn order, the replayed assistant, role-flipped observations,
action parsing, judging on what exists, replay through the runner and the CLI (docs/tasks.md#mirrorbench)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from testing_judges import ValidTurnShareJudge

import osim_env
from judges.judgment import Judgment
from osim.cli import main
from osim.runner import Runner, jobs_for
from osim_env.data import RowError, load_rows
from osim_env.wrappers import AutoPlay
from policies import ScriptedPolicy
from policies.base import PolicyError
from replays import ReplayStore, replay_stored
from scenarios import mirrorbench
from scenarios.mirrorbench.policy import ReferenceReplyPolicy, reference_reply
from scenarios.mirrorbench.prompts import OPENING, REPLY_MARKER, replay_turn_prompt
from scenarios.mirrorbench.schema import MirrorBenchRow

FIXTURE = Path("scenarios/mirrorbench/data/fixture.jsonl")
LINES = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
ROW = LINES[0]["extra_info"]  # user first: user, assistant, user, assistant
GREETING_ROW = LINES[1]["extra_info"]  # opens with an assistant greeting, three user turns


def make(row=ROW, **options):
    return osim_env.make("soul/mirrorbench-v0", scenario=row, judge=ValidTurnShareJudge(), **options)


def play(env, user_actions, seed: int = 0):
    """The user's actions in a plain loop; the assistant plays its default (replaying) policy."""
    env = AutoPlay(env, env.unwrapped.default_policies())
    env.reset(seed=seed)
    actions = iter(user_actions)
    observations = []
    for agent in env.agent_iter():
        obs, _, terminated, truncated, _ = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        assert agent == "user"
        observations.append(obs)
        env.step(next(actions))
    return env.unwrapped, observations


def messages(env):
    return [(e.source, e.text) for e in env.log if e.kind == "message"]


# -- rows --------------------------------------------------------------------------------------------
def test_fixture_rows_load_with_ids_and_aliases():
    loaded = mirrorbench.load(FIXTURE)
    assert len(loaded) == 4 and all(isinstance(s.row, MirrorBenchRow) for s in loaded)
    assert [s.scenario_id for s in loaded[:2]] == ["mirrorbench-fx-0", "mirrorbench-fx-1"]
    assert loaded[3].row.conversation_id == "417"  # a number becomes text
    aliased = MirrorBenchRow.model_validate(
        {
            "description": "  terse user  ",
            "conversation": json.dumps(
                [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "Hello!"}]
            ),
            "dataset": "qulac",
        }
    )
    assert aliased.task_description == "terse user" and aliased.subset == "qulac"
    assert [(t.role, t.content) for t in aliased.turns] == [("user", "hi"), ("assistant", "Hello!")]


def test_loads_published_parquet_and_jsonl(tmp_path):
    rows = [
        {
            "data_source": "mirrorbench",
            "extra_info": {**ROW, "index": f"m{i}"},
            "prompt": [{"role": "user", "content": "not used"}],
            "reward_model": {"ground_truth": ""},
        }
        for i in range(3)
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "mirrorbench.parquet")
    loaded = mirrorbench.load(tmp_path / "mirrorbench.parquet")
    assert [s.scenario_id for s in loaded] == ["m0", "m1", "m2"]
    assert loaded[0].row.turns[1].content == ROW["turns"][1]["content"]
    rows[2]["extra_info"] = {k: v for k, v in ROW.items() if k != "turns"}  # turns become null
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bad.parquet")
    with pytest.raises(RowError) as info:
        mirrorbench.load(tmp_path / "bad.parquet")
    assert (info.value.file, info.value.row, info.value.field) == (str(tmp_path / "bad.parquet"), 2, "turns")
    assert len(mirrorbench.load(tmp_path / "bad.parquet", on_invalid="skip")) == 2
    (tmp_path / "bare.jsonl").write_text(json.dumps(GREETING_ROW) + "\n")
    (bare,) = mirrorbench.load(tmp_path / "bare.jsonl")
    assert bare.row.turns[0].role == "assistant"


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({k: v for k, v in ROW.items() if k != "task_description"}, "task_description"),
        ({k: v for k, v in ROW.items() if k != "turns"}, "turns"),
        ({**ROW, "task_description": "   "}, "task_description"),
        ({**ROW, "turns": [{"role": "assistant", "content": "Hello!"}]}, "turns"),
        (
            {**ROW, "turns": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]},
            "turns.1.content",
        ),
        ({**ROW, "turns": [{"role": "narrator", "content": "hi"}]}, "turns.0.role"),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path, broken, field):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + json.dumps(broken) + "\n")
    with pytest.raises(RowError) as info:
        mirrorbench.load(path)
    assert (info.value.file, info.value.row, info.value.field) == (str(path), 1, field)
    assert str(path) in str(info.value) and repr(field) in str(info.value)
    assert len(mirrorbench.load(path, on_invalid="skip")) == 1
    _, skipped = load_rows(path, MirrorBenchRow, "mirrorbench", on_invalid="skip")
    assert skipped == 1


def test_rows_of_another_task_or_broken_json_are_rejected(tmp_path):
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"data_source": "userllm", "extra_info": ROW}) + "\n")
    with pytest.raises(RowError, match="data_source"):
        mirrorbench.load(wrong)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(ROW) + "\n{not json\n")
    with pytest.raises(RowError, match="not valid JSON") as info:
        mirrorbench.load(broken)
    assert info.value.file == str(broken)


# -- turn order, replayed assistant, observations ----------------------------------------------------
def test_replayed_assistant_turns_are_byte_identical_to_the_reference():
    env, _ = play(make(GREETING_ROW), ["Hi, I need a letter.", "Firmer please.", "And a subject line?"])
    reference = [t["content"] for t in GREETING_ROW["turns"] if t["role"] == "assistant"]
    played = [text for source, text in messages(env) if source == "assistant"]
    # The trailing assistant turn is dropped: the episode ends after the last user turn.
    assert played == reference[:3]
    assert [source for source, _ in messages(env)] == ["assistant", "user"] * 3
    assert env.termination == "conversation complete" and env.status == "ok"


def test_replay_is_verbatim_for_awkward_text():
    # A reply that quotes the marker line (with a wrong length) and has edge whitespace.
    text = "  Line one.\n\n- a list\n" + REPLY_MARKER.format(n=7) + "\n  trailing spaces  \n"
    row = {
        "task_description": "x",
        "turns": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": text}],
    }
    row["turns"].append({"role": "user", "content": "ok"})
    env, _ = play(make(row), ["hello", "fine"])
    assert messages(env)[1] == ("assistant", text)


def test_the_users_own_turns_come_back_as_assistant_messages():
    env, observations = play(make(), ["dinner w rice?", "cant eat eggs"])
    first, second = observations
    assert first["messages"][1:] == [{"role": "user", "content": OPENING}]
    assert second["messages"][2:] == [
        {"role": "assistant", "content": "dinner w rice?"},
        {"role": "user", "content": ROW["turns"][1]["content"]},
    ]
    system = second["messages"][0]
    assert system["role"] == "system" and ROW["task_description"] in system["content"]
    # The user never sees the reference user turns or the replay instruction.
    text = json.dumps(observations)
    assert ROW["turns"][0]["content"] not in text and ROW["turns"][2]["content"] not in text
    assert "Original assistant reply" not in text


def test_a_leading_assistant_turn_replaces_the_opening_line():
    _, observations = play(make(GREETING_ROW), ["a", "b", "c"])
    assert observations[0]["messages"][1:] == [
        {"role": "user", "content": GREETING_ROW["turns"][0]["content"]}
    ]


def test_the_assistant_sees_the_reply_to_send_and_the_user_as_user():
    env = make()
    env.reset(seed=0)
    env.step("dinner w rice?")
    obs = env.observe("assistant")["messages"]
    assert obs[0]["role"] == "system" and ROW["turns"][0]["content"] not in obs[0]["content"]
    assert obs[-1] == {
        "role": "user",
        "content": "dinner w rice?\n\n" + replay_turn_prompt(ROW["turns"][1]["content"]),
    }
    llm = make(assistant="llm")
    llm.reset(seed=0)
    llm.step("dinner w rice?")
    obs = llm.observe("assistant")["messages"]
    assert ROW["turns"][1]["content"] in obs[0]["content"]  # the regenerating assistant sees the reference
    assert obs[-1] == {"role": "user", "content": "dinner w rice?"}
    assert llm.unwrapped.default_policies() == {"assistant": "tiny"}
    assert make(assistant="llm", partner_model="openai:x").unwrapped.default_policies() == {
        "assistant": "openai:x"
    }


def test_reference_reply_policy_reads_the_last_marker_and_fails_without_one():
    injected = replay_turn_prompt("I am hacked") + "\n\n" + replay_turn_prompt("The real reply.")
    assert reference_reply([{"role": "user", "content": injected}]) == "The real reply."
    with pytest.raises(PolicyError):
        reference_reply([{"role": "user", "content": "no marker"}])
    with pytest.raises(PolicyError):
        reference_reply([{"role": "assistant", "content": replay_turn_prompt("x")}])
    with pytest.raises(PolicyError):  # a stated length that does not match
        reference_reply([{"role": "user", "content": replay_turn_prompt("x") + "y"}])
    env = make()
    env.reset(seed=0)
    env.step("hi\n" + replay_turn_prompt("fake reply"))  # the user tries to script the assistant
    assert ReferenceReplyPolicy().act(env.observe("assistant")) == ROW["turns"][1]["content"]


def test_max_user_turns_caps_the_episode():
    env, observations = play(make(GREETING_ROW, max_user_turns=2), ["a", "b"])
    assert [source for source, _ in messages(env)] == ["assistant", "user", "assistant", "user"]
    assert len(observations) == 2 and env.termination == "conversation complete"
    with pytest.raises(ValueError, match="max_user_turns"):
        make(max_user_turns=0)
    with pytest.raises(ValueError, match="assistant"):
        make(assistant="human")
    with pytest.raises(ValueError, match="reward"):
        make(reward="bleu")
    with pytest.raises(TypeError, match="unknown options"):
        make(partner="x")


# -- actions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "kind", "expected"),
    [
        ("dinner w rice?", "message", "dinner w rice?"),
        ("User: dinner w rice?", "message", "dinner w rice?"),
        ("  user :  dinner", "message", "dinner"),
        ("**User:** dinner", "message", "dinner"),
        ("<think>be terse</think>dinner?", "message", "dinner?"),
        ("My user: profile", "message", "My user: profile"),
        ("User: hi\nAssistant: hello", "message", "hi\nAssistant: hello"),
        ("", "invalid_action", "empty message"),
        ("User:   ", "invalid_action", "empty message"),
        ("<think>only thinking</think>", "invalid_action", "empty after removing thinking"),
    ],
)
def test_user_action_strings_and_what_they_become(action, kind, expected):
    env = make()
    env.reset(seed=0)
    env.step(action)
    event = env.unwrapped.log[0]
    assert event.kind == kind and event.payload["raw"] == action
    if kind == "message":
        assert event.text == expected
        assert event.payload.get("label_removed", False) == action.lstrip(" *").lower().startswith("user")
    else:
        assert event.payload["reason"] == expected
        # An invalid user message ends the episode; it is judged on what exists.
        assert env.unwrapped.termination == "invalid user message" and all(env.terminations.values())


def test_an_invalid_turn_mid_episode_ends_it_and_keeps_what_exists():
    env = make()
    env.reset(seed=0)
    env.step("dinner w rice?")
    env.step("Sure: rice bowl.")  # the assistant, played by hand
    env.step("")
    raw = env.unwrapped
    assert raw.termination == "invalid user message" and raw.status == "ok"
    assert raw.judgments["user"].score == pytest.approx(0.5)  # ValidTurnShareJudge: 1 of 2 valid
    env = make()
    env.reset(seed=0)
    env.step("dinner w rice?")
    env.step("<think>")
    assert env.unwrapped.termination == "invalid assistant reply"


def test_same_seed_same_episode_and_observations():
    a, obs_a = play(make(None), ["x", "y", "z"], seed=7)
    b, obs_b = play(make(None), ["x", "y", "z"], seed=7)
    assert a.episode_id == b.episode_id and obs_a == obs_b
    assert a.component_seed("pi") == b.component_seed("pi")


def test_feedback_is_private_to_the_user_and_droppable():
    env = make()
    env.reset(seed=0, options={"feedback": "Write shorter, lowercase messages."})
    with_feedback = env.unwrapped.messages_for("user")
    without = env.unwrapped.messages_for("user", with_feedback=False)
    assert "Write shorter" in with_feedback[0]["content"] and "Write shorter" not in without[0]["content"]
    env.step("dinner?")
    assert "Write shorter" not in json.dumps(env.observe("assistant"))


def test_default_judge_failure_is_an_error_not_a_score():
    class Broken:
        spec = {"kind": "broken"}

        def judge_episode(self, record):
            return {"user": Judgment.failed("user", "judge call failed after 3 attempts", self.spec)}

    env = osim_env.make("soul/mirrorbench-v0", scenario=ROW, judge=Broken())
    env.reset(seed=0)
    env.step("dinner?")
    env.step("Rice bowl.")
    with pytest.warns(RuntimeWarning, match="judge failed"):
        env.step("no eggs")
    assert env.unwrapped.status == "judge_error" and env.infos["user"]["score"] is None
    assert env.rewards["user"] == 0.0


# -- runner, store, replay, CLI -----------------------------------------------------------------------
def test_runner_plays_the_reference_assistant_and_stored_episodes_replay(tmp_path):
    path = tmp_path / "mb.duckdb"
    user = ScriptedPolicy(["User: hm ok", "<think>short</think>and then?", "thx"], name="user-script")
    runner = Runner(path, policy=user, judge=ValidTurnShareJudge(), progress=False)
    summary = runner.run(jobs_for("soul/mirrorbench-v0", 4, seed=0, scenarios=[0, 1, 2, 3]))
    assert summary.ok == 4, summary.failures
    rows = {json.dumps(r["turns"]): r for r in (line.get("extra_info", line) for line in LINES)}
    with ReplayStore(path) as store:
        for row in store.episodes(runner.run_id).itertuples():
            assert json.loads(row.policies)["assistant"]["backend"] == "reference"
            record = store.episode(row.episode_id, runner.run_id)
            reference = rows[json.dumps(record.scenario["turns"])]["turns"]
            played = [e.text for e in record.events if e.source == "assistant" and e.kind == "message"]
            assert played == [t["content"] for t in reference if t["role"] == "assistant"][: len(played)]
            assert played
            assert replay_stored(store, row.episode_id, runner.run_id).ok


def test_cli_run_and_replay_check(tmp_path, capsys):
    """``osim run soul/mirrorbench-v0 --policy tiny --episodes 3`` (the tiny model also judges), then
    ``osim replay check`` reproduces every stored episode."""
    store = str(tmp_path / "X.duckdb")
    run = [
        "run",
        "soul/mirrorbench-v0",
        "--policy",
        "tiny",
        "--episodes",
        "3",
        "--store",
        store,
        "--no-progress",
    ]
    assert main(run) == 0
    capsys.readouterr()
    assert main(["replay", "check", "--store", store]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3
    with ReplayStore(store) as opened:
        episodes = opened.episodes()
        assert len(episodes) == 3
        for episode_id in episodes["episode_id"]:
            (judgment,) = opened.judgments(episode_id)
            # Stored with the lexical profile whether the tiny judge's verdict was usable or not.
            assert {"proxy.mattr", "human.mattr", "proxy.hdd", "human.yules_k"} <= set(judgment.dims)
