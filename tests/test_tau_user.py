"""soul/tau-user-v0 on the shipped bike_rental domain: rows, the turn order and limits, tool calls run
in-process, observations, the task reward, human-likeness features, USI, feedback, the oracle agent, a
failing agent, replay through the runner and the CLI (docs/tasks.md#tau-user). No tau2 needed here;
tests/test_tau_user_tau2.py covers tau2's airline and retail domains."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from judges_fakes import FakeJudgeModel, policy_error

import osim_env
from judges.judgment import Judgment
from osim.runner import Runner, jobs_for
from osim_env.data import RowError
from osim_env.wrappers import AutoPlay
from policies import ScriptedPolicy, parse_spec
from policies.oracle import ORACLE_MARKER, OraclePolicy, calls_made, closing_message, oracle_prompt, plan_of
from replays import ReplayStore, replay_stored
from scenarios import tau_user
from scenarios.tau_user import usi as usi_module
from scenarios.tau_user.catalog import load_domain
from scenarios.tau_user.domain import domain_tasks
from scenarios.tau_user.env import parse_survey, parse_tool_call
from scenarios.tau_user.features import FEATURES, dice, features, human_likeness
from scenarios.tau_user.feedback import TauUserFeedbackWriter
from scenarios.tau_user.judge import TauUserJudge, db_match, reward_weights, rule_components
from scenarios.tau_user.prompts import GREETING, TOOL_LIMIT_NOTICE
from scenarios.tau_user.schema import TauUserRow

ENV_ID = "soul/tau-user-v0"
if ENV_ID not in osim_env.registry():  # until the entry point is installed
    osim_env.register(ENV_ID, "scenarios.tau_user.env:env")

FIXTURE = Path("scenarios/tau_user/data/fixture.jsonl")
LINES = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
CANNOT_HELP = "I'm sorry, I cannot help with that."


def call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def play(scenario, user_actions, agent_policy, seed: int = 0, **options):
    """A plain loop: the user's scripted actions, the agent played by ``agent_policy``."""
    env = AutoPlay(osim_env.make(ENV_ID, scenario=scenario, **options), {"agent": agent_policy})
    env.reset(seed=seed)
    user = ScriptedPolicy(user_actions, cycle=False)
    observations = []
    for _ in env.agent_iter():
        obs, _, terminated, truncated, _ = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        observations.append(obs)
        env.step(user.act(obs))
    return env.unwrapped, observations


def oracle_play(index: int, user_actions=("hi, my email is on file", "###STOP###"), **options):
    return play(index, list(user_actions), parse_spec("oracle"), agent="oracle", **options)


def step_env(scenario=0, **options):
    env = osim_env.make_raw(ENV_ID, scenario=scenario, **options)
    env.reset(seed=0)
    return env


# -- rows --------------------------------------------------------------------------------------------
def test_fixture_rows_load():
    loaded = tau_user.load(FIXTURE)
    assert [s.scenario_id for s in loaded] == ["bike_rental-0", "bike_rental-1", "bike_rental-2"]
    assert loaded[2].row.human_targets == {
        "short_msg_rate": 0.35,
        "politeness_rate": 0.2,
        "info_frontload": 0.55,
    }
    assert loaded[0].row.task().actions[-1].name == "extend_rental"


def test_loads_published_parquet_and_bare_jsonl(tmp_path):
    rows = [
        {
            "data_source": "tau_user",
            "extra_info": {"domain": "bike_rental", "task_id": str(i), "index": f"t{i}"},
            "prompt": [{"role": "user", "content": "not used"}],
            "reward_model": {"ground_truth": ""},
        }
        for i in range(3)
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "tau.parquet")
    assert [s.scenario_id for s in tau_user.load(tmp_path / "tau.parquet")] == ["t0", "t1", "t2"]
    bare = tmp_path / "tau.jsonl"
    bare.write_text(
        json.dumps({"domain": "bike_rental", "task_id": 1, "human_targets": '{"dash_rate": 0.1}'}) + "\n"
    )
    (scenario,) = tau_user.load(bare)
    assert scenario.row.task_id == "1" and scenario.row.human_targets == {"dash_rate": 0.1}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"domain": "banking", "task_id": "0"}, "domain"),
        ({"domain": "bike_rental", "task_id": "9"}, None),
        ({"domain": "bike_rental", "task_id": "0", "human_targets": {"charm": 1.0}}, "human_targets"),
        ({"domain": "bike_rental", "task_id": "0", "human_success": 1.5}, "human_success"),
        ({"domain": "bike_rental"}, "task_id"),
    ],
)
def test_malformed_rows_raise_with_file_row_and_field_or_are_skipped(tmp_path, row, field):
    path = tmp_path / "bad.jsonl"
    good = {"domain": "bike_rental", "task_id": "0"}
    path.write_text("\n".join(json.dumps(r) for r in (good, row)) + "\n")
    with pytest.raises(RowError) as caught:
        tau_user.load(path)
    assert caught.value.file and "bad.jsonl" in caught.value.file and caught.value.line == 2
    if field:
        assert caught.value.field == field
    assert len(tau_user.load(path, on_invalid="skip")) == 1


def test_instruction_override_replaces_the_user_scenario():
    row = TauUserRow(domain="bike_rental", task_id="0", instruction={"reason_for_call": "Ask about helmets."})
    env = step_env(row.model_dump())
    system = env.observe("user")["messages"][0]["content"]
    assert "Ask about helmets." in system and "May 8" not in system


# -- actions ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"name": "get_rental", "arguments": {"rental_id": "R1"}}', ("get_rental", {"rental_id": "R1"})),
        (
            '{"name": "get_rental", "arguments": "{\\"rental_id\\": \\"R1\\"}"}',
            ("get_rental", {"rental_id": "R1"}),
        ),
        ('{"name": "transfer_to_human_agents"}', ("transfer_to_human_agents", {})),
        ("{not json", "not JSON"),
        ('{"arguments": {}}', "needs"),
        ('{"name": "x", "arguments": [1]}', "arguments must be a JSON object"),
        ('{"name": "x", "arguments": "oops"}', "arguments are not a JSON object"),
    ],
)
def test_tool_call_block_parsing(text, expected):
    parsed = parse_tool_call(text)
    if isinstance(expected, tuple):
        assert parsed == expected
    else:
        assert isinstance(parsed, str) and expected in parsed


def test_user_actions_table():
    env = step_env()
    env.step("<think>be brief</think>  hi, I want to keep my bike longer ")
    message = env.log[-1]
    assert (message.kind, message.source, message.text) == (
        "message",
        "user",
        "hi, I want to keep my bike longer",
    )
    assert message.payload["thinking"] == "be brief" and "stop" not in message.payload
    env.step("Anything you need?")  # the agent: a message, back to the user
    env.step("   ")
    assert env.log[-1].kind == "invalid_action" and env.log[-1].payload["reason"] == "empty message"
    assert env.log[-1].visibility == ("user",) and env.agent_selection == "user"
    env.step("ok thanks ###STOP###")
    assert env.log[-2].payload["stop"] == "###STOP###" and env.termination == "user stop"


@pytest.mark.parametrize(
    ("marker", "reason"),
    [("###TRANSFER###", "user transfer"), ("###OUT-OF-SCOPE###", "user out of scope")],
)
def test_other_stop_markers_end_the_episode(marker, reason):
    env = step_env()
    env.step(marker)
    assert env.termination == reason and env.status == "ok"


def test_agent_tool_calls_run_in_process_and_only_the_agent_sees_them():
    env = step_env()
    env.step("hi")
    env.step(
        "Let me look. "
        + call("find_customer", email="ana.rios@example.org")
        + call("get_rental", rental_id="R1001")
    )
    kinds = [(e.kind, e.visibility) for e in env.log[-4:]]
    assert kinds == [("tool_call", ("agent",)), ("tool_result", ("agent",))] * 2
    first_call, first_result = env.log[-4], env.log[-3]
    assert first_call.payload["content"] == "Let me look." and "raw" in first_call.payload
    assert (
        json.loads(first_result.text)["customer_id"] == "ana_rios_311" and not first_result.payload["error"]
    )
    assert env.agent_selection == "agent"  # it acts again after tool results
    env.step(call("extend_rental", rental_id="R1001", new_end_date="2026-05-08"))
    assert json.loads(env.log[-1].text)["total"] == 108
    env.step("Done: your new total is 108.")
    assert env.agent_selection == "user"
    user_view = json.dumps(env.observe("user")["messages"][1:])  # after the system prompt
    assert "tool_" not in user_view and "ana_rios_311" not in user_view and "Let me look" not in user_view
    assert "new total is 108" in user_view
    agent_view = env.observe("agent")["messages"]
    assert any('<tool_response name="find_customer">' in m["content"] for m in agent_view)


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (call("fly_to_moon"), "Error: Tool 'fly_to_moon' not found."),
        (call("get_rental", rental="R1001"), "Error: TypeError"),
        (call("get_rental", rental_id="R9999"), "Error: Rental not found"),
        (call("cancel_rental", rental_id="R1001", reason="change of plans"), "Error: Only reserved rentals"),
        (
            call("extend_rental", rental_id="R1001", new_end_date="someday"),
            "Error: new_end_date must be a date",
        ),
    ],
)
def test_tool_errors_are_results_not_exceptions(action, error):
    env = step_env()
    env.step("hi")
    env.step(action)
    result = env.log[-1]
    assert result.kind == "tool_result" and result.payload["error"] and result.text.startswith(error)


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("<tool_call>{bad json}</tool_call>", "tool call 1: not JSON"),
        ("<tool_call>" + "[" * 5000 + "</tool_call>", "tool call 1: not JSON (nested too deeply)"),
        ("<tool_call>" + json.dumps({"name": "get_rental"}), "unbalanced <tool_call> tags"),
        ("", "empty message"),
    ],
)
def test_malformed_agent_actions_are_agent_only_invalid_actions(action, reason):
    env = step_env()
    env.step("hi")
    env.step(action)
    invalid = env.log[-1]
    assert invalid.kind == "invalid_action" and invalid.source == "agent" and invalid.visibility == ("agent",)
    assert invalid.payload["reason"].startswith(reason) and env.agent_selection == "agent"
    assert all(e.source != "user" for e in env.log[2:])  # nothing is attributed to the user


def test_tool_rounds_are_capped_per_turn():
    env = step_env(max_tool_rounds=2)
    env.step("hi")
    env.step(call("get_rental", rental_id="R1001"))
    env.step(call("get_rental", rental_id="R1001"))
    notice = env.log[-1]
    assert notice.kind == "system_notice" and notice.text == TOOL_LIMIT_NOTICE.format(n=2)
    assert notice.visibility == ("agent",)
    env.step(call("get_rental", rental_id="R1001"))
    assert env.log[-1].kind == "invalid_action" and "tool limit" in env.log[-1].payload["reason"]
    env.step("Your rental ends May 5.")
    env.step("and can I keep it longer?")
    env.step(call("get_rental", rental_id="R1001"))  # a new turn: tools again
    assert env.log[-1].kind == "tool_result"


def test_three_invalid_user_actions_in_a_row_end_the_episode():
    env = step_env()
    env.step("")
    env.step("  ")
    assert env.status == "running"
    env.step("<think>unclosed")
    assert env.termination == "3 invalid user actions in a row"


def test_max_user_turns_ends_after_the_agents_reply():
    env = step_env(max_user_turns=2)
    for text in ("hi", "Hello.", "my email is ana.rios@example.org", "Thanks."):
        env.step(text)
    assert env.termination == "max_user_turns (2) reached" and env.status == "ok"


def test_survey_after_the_stop_marker_is_private_and_parsed():
    answer = json.dumps({"task_success": "yes", "overall": 4, "mood": "fine"})
    env, observations = oracle_play(0, ["hi", "###STOP###", f"sure: {answer}"], survey=True)
    survey = env.log[-2]
    assert (survey.kind, survey.visibility) == ("action", ("user",))
    assert survey.payload["survey"] == {"task_success": "yes", "overall": 4}
    assert env.termination == "user stop" and env.judgments["user"].dims["task_reward"] == 1.0
    assert (
        "post-task survey" not in json.dumps(observations[0])
        and "survey" in observations[-1]["messages"][-1]["content"]
    )
    missing, _ = oracle_play(0, ["hi", "###STOP###", "no idea"], survey=True)
    assert missing.log[-2].payload["survey"] is None and missing.status == "ok"
    unclosed, _ = oracle_play(0, ["hi", "###STOP###", "<think>never closed"], survey=True)
    assert unclosed.log[-2].kind == "invalid_action" and unclosed.termination == "user stop"
    assert parse_survey("[1, 2]") is None


# -- observations -------------------------------------------------------------------------------------
def test_observations_show_each_side_only_what_it_may_see():
    env = step_env(2)
    user = env.observe("user")
    assert set(user) == {"messages", "agent", "turn"}
    system, greeting = user["messages"][0]["content"], user["messages"][1]
    assert "Chloe Varga" in system and "###STOP###" in system
    assert greeting == {"role": "user", "content": GREETING}
    for hidden in ("find_customer", "get_rental", "cancel R1003", "The agent does not cancel"):
        assert hidden not in json.dumps(user)
    agent = env.observe("agent")
    assert set(agent) == {"messages", "agent", "turn", "tools"} and ORACLE_MARKER not in json.dumps(agent)
    assert [t["function"]["name"] for t in agent["tools"]][:2] == ["find_customer", "get_rental"]
    assert (
        "<tool_call>" in agent["messages"][0]["content"] and "Pedal & Co." in agent["messages"][0]["content"]
    )
    assert "Chloe" not in json.dumps(agent)
    oracle = step_env(2, agent="oracle")
    oracle.step("hi")
    plan = plan_of(oracle.observe("agent")["messages"])
    assert (
        plan["actions"][1] == {"name": "get_rental", "arguments": {"rental_id": "R1003"}}
        and plan["outputs"] == []
    )
    assert ORACLE_MARKER not in json.dumps(oracle.observe("user"))


# -- the oracle and the task reward ---------------------------------------------------------------------
@pytest.mark.parametrize("index", [0, 1, 2])
def test_oracle_agent_scores_one_on_every_task(index):
    env, _ = oracle_play(index)
    judgment = env.judgments["user"]
    assert env.termination == "user stop" and judgment.dims["task_reward"] == 1.0
    assert judgment.dims["db"] == 1.0 and judgment.dims["communicate"] == 1.0
    calls = [e.payload["name"] for e in env.log if e.kind == "tool_call"]
    assert calls == [a.name for a in env.row.task().actions]


def test_oracle_policy_reads_its_plan_and_progress_from_the_chat():
    prompt = oracle_prompt([{"name": "a", "arguments": {"x": 1}}], ["108", "May 8"])
    start = [{"role": "user", "content": f"hi <tool_call> {ORACLE_MARKER}\nnot json\n\n{prompt}"}]
    first = OraclePolicy().act({"messages": start})
    assert first == '<tool_call>{"arguments": {"x": 1}, "name": "a"}</tool_call>'
    done = [
        {"role": "assistant", "content": first},
        {"role": "user", "content": f"<tool_response>ok\n\n{prompt}"},
    ]
    assert calls_made(done) == 1 and OraclePolicy().act({"messages": done}) == closing_message(
        ["108", "May 8"]
    )
    assert "108; May 8" in closing_message(["108", "May 8"])
    env, _ = play(0, ["hi", "###STOP###"], parse_spec("oracle"))  # an env without agent="oracle"
    assert env.status == "failed" and "agent='oracle'" in env.termination


def test_task_reward_branches():
    cannot, _ = play(0, ["hi", "###STOP###"], lambda obs: CANNOT_HELP)
    assert {k: cannot.judgments["user"].dims[k] for k in ("db", "communicate", "task_reward")} == {
        "db": 0.0,
        "communicate": 0.0,
        "task_reward": 0.0,
    }
    refused, _ = play(2, ["hi", "###STOP###"], lambda obs: CANNOT_HELP)
    assert (
        refused.judgments["user"].dims["task_reward"] == 1.0
    )  # nothing to change, nothing to say (tau2 agrees)
    silent, _ = oracle_play(0, ["hi", "thanks", "hello?"], max_user_turns=3)
    assert silent.termination == "max_user_turns (3) reached"
    assert (
        silent.judgments["user"].dims["task_reward"] == 0.0
        and silent.judgments["user"].dims["ended_by_stop"] == 0.0
    )
    wrong_date = [call("extend_rental", rental_id="R1001", new_end_date="2026-05-07"), "Done, total 108."]
    wrong, _ = play(0, ["hi", "###STOP###"], ScriptedPolicy(wrong_date))
    assert wrong.judgments["user"].dims["db"] == 0.0 and wrong.judgments["user"].dims["communicate"] == 1.0


def test_db_match_replays_writes_and_compares_hashes():
    domain, task = load_domain("bike_rental"), domain_tasks("bike_rental")["0"]
    gold_writes = [("extend_rental", {"rental_id": "R1001", "new_end_date": "2026-05-08"})]
    assert db_match(domain, task, gold_writes)
    in_two_steps = [
        ("extend_rental", {"rental_id": "R1001", "new_end_date": "2026-05-06"}),
        ("get_rental", {"rental_id": "R1001"}),
        ("extend_rental", {"rental_id": "R1001", "new_end_date": "2026-05-08"}),
    ]
    assert db_match(domain, task, in_two_steps)  # other writes, same database: the hashes decide
    assert not db_match(domain, task, [])
    assert not db_match(
        domain, task, [*gold_writes, ("cancel_rental", {"rental_id": "R1002", "reason": "change of plans"})]
    )


def test_action_basis_compares_names_and_arguments(monkeypatch):
    task = domain_tasks("bike_rental")["0"].model_copy(update={"reward_basis": ("ACTION",)})
    monkeypatch.setitem(domain_tasks("bike_rental"), "0", task)
    env, _ = oracle_play(0)
    assert rule_components(env.episode_record(), task, load_domain("bike_rental")) == {"action": 1.0}
    skipped = [call("find_customer", email="ana.rios@example.org"), "Done, 108."]
    partial, _ = play(0, ["hi", "###STOP###"], ScriptedPolicy(skipped))
    assert (
        partial.judgments["user"].dims["action"] == 0.0
        and partial.judgments["user"].dims["task_reward"] == 0.0
    )


def nl_reply(*met: bool) -> str:
    return json.dumps({"assertions": [{"index": i, "met": m, "reason": "seen"} for i, m in enumerate(met)]})


def test_nl_assertions_are_judged_by_a_model_and_a_failure_is_an_error(monkeypatch):
    task = domain_tasks("bike_rental")["2"].model_copy(update={"reward_basis": ("DB", "NL_ASSERTION")})
    monkeypatch.setitem(domain_tasks("bike_rental"), "2", task)
    env, _ = oracle_play(2, judge=False)  # judged below, by scripted judge models
    record = env.episode_record()
    model = FakeJudgeModel([nl_reply(True)])
    met = TauUserJudge(model, reward="task").judge_episode(record)["user"]
    assert met.score == 1.0 and met.dims["nl_assertion"] == 1.0
    assert "Agent tool call: get_rental" in model.requests[0].messages[1]["content"]
    unmet = TauUserJudge(FakeJudgeModel([nl_reply(False)]), reward="task").judge_episode(record)["user"]
    assert unmet.score == 0.0
    skipped = TauUserJudge(FakeJudgeModel([nl_reply()]), reward="task").judge_episode(record)["user"]
    assert skipped.score is None and "indices" in skipped.error
    failed = TauUserJudge(FakeJudgeModel([policy_error()]), reward="task", attempts=1).judge_episode(record)[
        "user"
    ]
    assert failed.score is None and failed.error


def test_rule_only_tasks_never_build_the_judge_model():
    judge = TauUserJudge("hf:/nonexistent/model")
    env, _ = oracle_play(1)
    assert judge.judge_episode(env.episode_record())["user"].score == 1.0 and judge._model is None


# -- the reward mix and human-likeness ------------------------------------------------------------------
def test_reward_weights():
    assert reward_weights("auto") == {"task": 0.5, "human_likeness": 0.5}
    assert reward_weights("auto", has_targets=False) == {"task": 1.0}
    assert reward_weights({"task": 3, "human_likeness": 1}) == {"task": 0.75, "human_likeness": 0.25}
    for bad in ("gteval", {"task": -1}, {"style": 1.0}, {}):
        with pytest.raises(ValueError):
            reward_weights(bad)
    with pytest.raises(ValueError):
        osim_env.make(ENV_ID, reward="pi")


def test_score_mixes_task_reward_and_human_likeness():
    user = ["hi", "ana.rios@example.org", "###STOP###"]
    env, _ = oracle_play(0, user)  # targets: short 0.3, politeness 0.25, frontload 0.5, words/turn 9
    judgment = env.judgments["user"]
    # short 1.0 -> 2*0.3/1.3; politeness 0 -> 0; frontload 1.0 -> 2*0.5/1.5; words/turn 1.0 -> 2/10
    expected_hl = (0.6 / 1.3 + 0.0 + 1.0 / 1.5 + 0.2) / 4
    assert judgment.dims["human_likeness"] == pytest.approx(expected_hl)
    assert judgment.score == pytest.approx((1.0 + expected_hl) / 2)
    task_only = TauUserJudge(reward="task").judge_episode(env.episode_record())["user"]
    assert task_only.score == 1.0
    no_targets, _ = oracle_play(1, user)
    assert (
        no_targets.judgments["user"].score == 1.0
        and "human_likeness" not in no_targets.judgments["user"].dims
    )
    failed = TauUserJudge(reward="human_likeness").judge_episode(no_targets.episode_record())["user"]
    assert failed.score is None and "human_targets" in failed.error


def test_features_on_a_hand_computed_transcript():
    turns = [
        "Hi, I need to extend my rental please",
        "ana.rios@example.org",
        "ok thanks",
        "What do you mean?",
        "###STOP###",
    ]
    values = features(turns)
    assert set(values) == set(FEATURES)
    expected = {
        "politeness_rate": 0.5,  # "please", "thanks"
        "short_msg_rate": 0.5,  # 1 and 2 words
        "ack_only_rate": 0.25,  # "ok thanks"
        "words_cv": (((4.25**2 + 2.75**2 + 1.75**2 + 0.25**2) / 4) ** 0.5) / 3.75,  # words 8, 1, 2, 4
        "info_frontload": 9 / 15,
        "id_density": 1 / 15,  # the email
        "words_per_turn": 3.75,
        "opening_length": 8.0,
        "clarification_rate": 0.25,
        "info_question_rate": 0.0,  # the only question asks for clarification
    }
    for name, value in expected.items():
        assert values[name] == pytest.approx(value), name
    others = set(FEATURES) - set(expected)
    assert all(values[name] == 0.0 for name in others), {n: values[n] for n in others if values[n]}


def test_features_of_clarification_and_error_reaction():
    turns = [
        "I think it's R1001 - not sure",
        "That's not what I asked. You said 108!!",
        "never mind, what about a refund?",
        "never mind, what about a refund?",
    ]
    values = features(turns)  # words 7, 8, 6, 6 = 27
    expected = {
        "uncertainty_rate": 0.25,
        "certainty_rate": 0.0,
        "dash_rate": 0.25,
        "id_density": 1 / 27,  # R1001; "108!!" is too short
        "pushback_rate": 0.25,
        "accusation_rate": 0.25,
        "emotion_rate": 0.25,
        "pivot_rate": 0.5,
        "info_question_rate": 0.5,
        "repetition_rate": 1 / 3,  # the last pair of three is identical
        "info_frontload": 15 / 27,
        "short_msg_rate": 0.0,
        "politeness_rate": 0.0,
    }
    for name, value in expected.items():
        assert values[name] == pytest.approx(value), name
    assert features(["###STOP###"]) == dict.fromkeys(FEATURES, 0.0)
    assert features(["As an AI, I'd be happy to help!"])["agent_register_rate"] == 1.0


def test_dice_and_human_likeness():
    assert dice(0.0, 0.0) == 1.0 and dice(0.5, 0.0) == 0.0 and dice(0.2, 0.6) == pytest.approx(0.5)
    assert human_likeness({"a": 0.2, "b": 1.0}, {"a": 0.6, "b": 1.0}) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        human_likeness({"a": 1.0}, {})


def test_detectors_flag_register_and_an_early_stop():
    env, _ = oracle_play(1, ["Let me know if you need anything else! ###STOP###"])
    flags = env.judgments["user"].flags
    assert flags["assistant_register"]["flagged"] and flags["stop_first_turn"]["flagged"]
    assert not flags["repetition"]["flagged"] and not flags["length"]["flagged"]


# -- USI ---------------------------------------------------------------------------------------------
def test_usi_on_a_hand_computed_reference():
    success, _ = oracle_play(0, ["hi", "ana.rios@example.org please", "###STOP###"])
    stalled, _ = oracle_play(2, ["I want to cancel R1003, thanks"], max_user_turns=1)
    episodes = [success.episode_record(), stalled.episode_record()]
    reference = {
        "features": {"short_msg_rate": 0.5, "politeness_rate": 0.25, "pivot_rate": 0.0},
        "tasks": {
            "bike_rental/0": {"success": 0.5, "bin": "easy"},
            "bike_rental/2": {"success": 1.0, "bin": "hard"},
        },
    }
    result = usi_module.usi(episodes, reference)
    # model means: short (1 + 0)/2 = 0.5, politeness (0.5 + 1)/2 = 0.75, pivot 0
    assert result["D1"] == pytest.approx(100 * (1.0 + 0.5) / 2)  # dice(.5,.5)=1, dice(.25,.75)=.5
    assert result["D4"] == pytest.approx(100.0) and "D2" not in result and "D3" not in result
    assert result["outcome"] == pytest.approx(100 * (1 - (0.5 * 0.5 + 0.5 * 1.0)))  # rewards 1 and 0
    assert result["usi"] == pytest.approx((75 + 100 + 25) / 3) and result["n_episodes"] == 2
    second = {"features": {"short_msg_rate": 1.0}, "tasks": reference["tasks"]}
    batches = usi_module.usi(episodes, {"batches": [reference, second]})
    assert batches["usi"] == pytest.approx((200 / 3 + (200 / 3 + 25) / 2) / 2)
    assert batches["std"]["usi"] == pytest.approx(abs(200 / 3 - (200 / 3 + 25) / 2) / 2)
    with pytest.raises(ValueError):
        usi_module.usi(episodes, {"tasks": {"airline/0": {"success": 1.0}}})


def test_usi_falls_back_to_the_rows_human_success_and_survey():
    survey = {"task_success": "yes", "overall": 5}
    row = {**LINES[0]["extra_info"], "human_survey": {"task_success": "yes", "overall": 4}}
    episode, _ = oracle_play(row, ["hi", "###STOP###", json.dumps(survey)], survey=True)
    result = usi_module.usi([episode.episode_record()], {"tasks": {"bike_rental/0": {"bin": "easy"}}})
    assert result["outcome"] == pytest.approx(100 * (1 - (1.0 - 0.8)))  # the fixture row's human_success
    assert result["alignment"] == pytest.approx(100 * (1 - 0.25 / 2))  # overall 5 vs 4 on a 1-5 scale
    assert result["usi"] == pytest.approx((80 + 87.5) / 2)


def test_survey_alignment_and_the_synthetic_reference():
    assert (
        usi_module.survey_agreement(
            {"task_success": "yes", "overall": 5}, {"task_success": "no", "overall": 4}
        )
        == 0.375
    )
    answer = json.dumps({"task_success": "yes", "efficiency": 4, "overall": 4, "reuse": "yes"})
    episode, _ = oracle_play(0, ["hi", "###STOP###", answer], survey=True)
    result = usi_module.usi([episode.episode_record()], usi_module.load_reference())
    assert result["alignment"] == pytest.approx(100.0)  # equal on the four answered fields
    assert {"D1", "D2", "D3", "D4", "outcome", "usi"} <= set(result)


# -- feedback ----------------------------------------------------------------------------------------
def test_rule_feedback_names_the_gaps_and_never_the_required_outputs():
    writer = TauUserFeedbackWriter()
    eager, _ = oracle_play(0, ["###STOP### thanks"])
    critique = writer.feedback_for(eager.episode_record(), eager.judgments["user"]).feedback.critique
    assert "first message" in critique and "108" not in critique
    chatty = [
        "Please help, thank you so much",
        "please, my email is ana.rios@example.org, thanks",
        "thank you",
        "###STOP###",
    ]
    polite, _ = oracle_play(0, chatty)
    parts = writer.feedback_for(polite.episode_record(), polite.judgments["user"]).feedback.per_dimension
    assert "politeness" in parts and parts["outcome"] == "Your request was completed."
    failed = Judgment.failed("user", "judge down")
    assert writer.feedback_for(polite.episode_record(), failed).feedback is None


# -- failures, runner, replay, CLI ------------------------------------------------------------------------
def test_a_failing_agent_call_ends_the_episode_as_failed():
    env, _ = play(0, ["hi", "more?", "###STOP###"], ScriptedPolicy(["Sure, one moment."], cycle=False))
    assert env.status == "failed" and "script exhausted" in env.termination
    users = [e.text for e in env.log if e.source == "user"]
    assert users == ["hi", "more?"] and env.log[-1].kind == "end" and env.log[-1].payload["failed"]


def test_runner_stores_episodes_that_replay_exactly(tmp_path):
    path = tmp_path / "tau.duckdb"
    user = ScriptedPolicy(["hi there", "my email is b.okafor@example.net", "###STOP###"], name="user-script")
    runner = Runner(path, policy=user, roles={"agent": "oracle"}, progress=False)
    summary = runner.run(jobs_for(ENV_ID, 3, seed=0, scenarios=[0, 1, 2], options={"agent": "oracle"}))
    assert summary.ok == 3, summary.failures
    with ReplayStore(path) as store:
        for row in store.episodes(runner.run_id).itertuples():
            assert replay_stored(store, row.episode_id, runner.run_id).ok


def test_cli_run_with_tiny_and_replay_check(tmp_path, capsys):
    """``osim run soul/tau-user-v0 --policy tiny --episodes 3`` (the tiny model also plays the agent),
    then ``osim replay check`` reproduces every stored episode."""
    from osim.cli import main

    store = str(tmp_path / "X.duckdb")
    run = ["run", ENV_ID, "--policy", "tiny", "--episodes", "3", "--store", store, "--no-progress"]
    run += ["--option", "max_user_turns=2", "--option", "max_tool_rounds=2"]
    assert main(run) == 0
    capsys.readouterr()
    assert main(["replay", "check", "--store", store]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3
    with ReplayStore(store) as opened:
        episodes = opened.episodes()
        assert len(episodes) == 3 and set(episodes["status"]) == {"ok"}
        assert set(episodes["termination"]) <= {
            "max_user_turns (2) reached",
            "3 invalid agent actions in a row",
        }


def test_cli_run_with_the_oracle_agent_role(tmp_path, capsys):
    """``osim run soul/tau-user-v0 --policy scripted:FILE --role agent=oracle --option agent=oracle``."""
    from osim.cli import main

    script = tmp_path / "user.txt"
    script.write_text("hi, it's about my bike rental\n###STOP###\n", encoding="utf-8")
    store = str(tmp_path / "oracle.duckdb")
    run = [
        "run",
        ENV_ID,
        "--policy",
        f"scripted:{script}",
        "--role",
        "agent=oracle",
        "--option",
        "agent=oracle",
    ]
    assert main([*run, "--episodes", "3", "--store", store, "--no-progress"]) == 0
    with ReplayStore(store) as opened:
        episodes = opened.episodes()
        assert len(episodes) == 3 and set(episodes["status"]) == {"ok"}
        assert set(episodes["termination"]) == {"user stop"}
    capsys.readouterr()
    assert main(["replay", "check", "--store", store]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3


def test_readme_your_agent_example_runs(capsys):
    section = Path("README.md").read_text(encoding="utf-8").split("## Your agent against our users", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)
    exec(compile(block, "README.md", "exec"), {})
    termination, reward = capsys.readouterr().out.strip().rsplit(" ", 1)
    assert (
        termination in ("max_user_turns (3) reached", "3 invalid user actions in a row") and reward == "0.0"
    )


def test_conformance_with_the_oracle_agent_survey_and_small_limits():
    """The default options run in tests/test_conformance.py; this covers the survey turn and the limits."""
    from functools import partial

    from osim_env.test import run_all
    from scenarios.tau_user.env import env

    options = {"agent": "oracle", "survey": True, "max_tool_rounds": 2, "max_user_turns": 3}
    assert "fuzz_actions_test" in run_all(partial(env, **options), fuzz_examples=2000)
