"""soul/simarena-math-v0 and soul/simarena-doc-v0: rows and the data_source table, action parsing, the
shared rollout (termination, turn limit, finalize), tutor failures, observations, the judges' formula on
hand-written judge outputs, the departures from the original, replay and the CLI (docs/tasks.md#simarena)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from judges_fakes import FakeJudgeModel, policy_error
from testing_judges import ValidTurnShareJudge

import osim_env
from osim.cli import main
from osim.runner import Runner, jobs_for
from osim_env.data import RowError
from osim_env.test import run_all
from osim_env.wrappers import AutoPlay
from policies import ScriptedPolicy
from replays import ReplayStore, replay_stored
from scenarios import simarena
from scenarios.simarena import prompts
from scenarios.simarena.judge import SimArenaJudge, odyssim_doc, odyssim_math
from scenarios.simarena.schema import DocRow, MathRow

MATH = "soul/simarena-math-v0"
DOC = "soul/simarena-doc-v0"
FIXTURE = Path("scenarios/simarena/data/fixture.jsonl")
LINES = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
MATH_ROW = LINES[0]["extra_info"]  # three interaction features
PLAIN_MATH_ROW = LINES[1]["extra_info"]  # no features
DOC_ROW = LINES[3]["extra_info"]  # one writing and two interaction features
PLAIN_DOC_ROW = LINES[4]["extra_info"]  # no features


def make(env_id=MATH, row=MATH_ROW, **options):
    return osim_env.make(env_id, scenario=row, judge=options.pop("judge", False), **options)


def play(env, actions, partner_policy=None, seed=0):
    """The human's actions in a plain loop; the partner plays ``partner_policy``."""
    raw = env.unwrapped
    env = AutoPlay(env, {raw.partner: partner_policy or ScriptedPolicy(["Good. What next?"])})
    env.reset(seed=seed)
    actions = iter(actions)
    observations = []
    for agent in env.agent_iter():
        _, _, terminated, truncated, _ = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        assert agent == raw.human
        observations.append(env.observe(agent))
        env.step(next(actions))
    return raw, observations


# -- rows --------------------------------------------------------------------------------------------------
def test_fixture_rows_route_by_data_source_and_aliases():
    loaded = simarena.load(FIXTURE)
    kinds = [type(s.row) for s in loaded]
    assert kinds == [MathRow, MathRow, MathRow, DocRow, DocRow]
    assert [s.scenario_id for s in loaded][:2] == ["simarena-math-fx-0", "simarena-math-fx-1"]
    assert LINES[1]["data_source"] == "sim_math" and LINES[4]["data_source"] == "sim_doc"  # aliases
    # raw as a JSON string merged over extra_info; a feature without a name is dropped.
    assert loaded[2].row.problem.startswith("A rectangle") and len(loaded[2].row.target_features()) == 1
    assert loaded[3].row.target_features()[1][1].description == "Asks for one change per message."
    # Each env draws only its own rows.
    assert {type(s.row) for s in osim_env.make_raw(MATH).candidate_scenarios()} == {MathRow}
    assert {type(s.row) for s in osim_env.make_raw(DOC).candidate_scenarios()} == {DocRow}


def test_raw_object_queries_string_and_bare_rows():
    row = MathRow.model_validate(
        {"raw": {**PLAIN_MATH_ROW, "human_user_queries": "just one message"}, "problem": "overridden"}
    )
    assert row.problem == PLAIN_MATH_ROW["problem"] and row.human_user_queries == ["just one message"]
    encoded = MathRow.model_validate(
        {**PLAIN_MATH_ROW, "human_public_conversation": json.dumps(MATH_ROW["human_public_conversation"])}
    )
    assert encoded.human_public_conversation[0].role == "user"


def test_published_parquet_and_unknown_data_source(tmp_path):
    rows = [
        {"data_source": src, "extra_info": {**row, "index": f"r{i}"}}
        for i, (src, row) in enumerate(
            [("sim_arena_math", MATH_ROW), ("sim_doc", DOC_ROW), ("sim_math", PLAIN_MATH_ROW)]
        )
    ]
    rows = [{**r, "extra_info": json.dumps(r["extra_info"])} for r in rows]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "sim.parquet")
    loaded = simarena.load(tmp_path / "sim.parquet")
    assert [(s.scenario_id, type(s.row)) for s in loaded] == [
        ("r0", MathRow),
        ("r1", DocRow),
        ("r2", MathRow),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(LINES[0]) + "\n" + json.dumps({**LINES[1], "data_source": "sim_arena"}) + "\n")
    with pytest.raises(RowError) as info:
        simarena.load(bad)
    assert (info.value.file, info.value.row, info.value.field) == (str(bad), 1, "data_source")
    assert len(simarena.load(bad, on_invalid="skip")) == 1
    # The original's routing keys only: a math env does not take a document row.
    with pytest.raises(RowError, match="data_source"):
        osim_env.make(MATH, scenario=LINES[3])
    with pytest.raises(RowError, match="a bare row needs"):
        simarena.load(_write(tmp_path, [{"user_profile_text": "x"}]))


def _write(tmp_path, rows):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({k: v for k, v in MATH_ROW.items() if k != "problem"}, "problem"),
        ({**MATH_ROW, "problem": "  "}, "problem"),
        ({k: v for k, v in MATH_ROW.items() if k != "human_user_queries"}, "human_user_queries"),
        ({**MATH_ROW, "human_user_queries": ["", " "]}, "human_user_queries"),
        (
            {**MATH_ROW, "human_public_conversation": [{"role": "assistant", "content": "hi"}]},
            "human_public_conversation",
        ),
        (
            {**MATH_ROW, "human_public_conversation": [{"role": "narrator", "content": "hi"}]},
            "human_public_conversation.0.role",
        ),
        (
            {**MATH_ROW, "target_interaction_style_features": "not a list"},
            "target_interaction_style_features",
        ),
        ({**MATH_ROW, "raw": "{not json"}, None),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path, broken, field):
    path = _write(tmp_path, [LINES[0], {"data_source": "sim_arena_math", "extra_info": broken}])
    with pytest.raises(RowError) as info:
        simarena.load(path)
    assert (info.value.file, info.value.row, info.value.field) == (str(path), 1, field)
    assert len(simarena.load(path, on_invalid="skip")) == 1


def test_malformed_doc_row(tmp_path):
    broken = {k: v for k, v in DOC_ROW.items() if k != "intent"}
    path = _write(tmp_path, [{"data_source": "sim_doc", "extra_info": broken}])
    with pytest.raises(RowError) as info:
        simarena.load(path)
    assert (info.value.row, info.value.field) == (0, "intent")


# -- actions -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env_id", "action", "kind", "expected", "flags"),
    [
        (MATH, "Query: how do i start", "message", "how do i start", {"label": "Query"}),
        (MATH, "thinking first... Response: ok so 12?", "message", "ok so 12?", {"label": "Response"}),
        (MATH, "<think>be short</think>Query: lcm?", "message", "lcm?", {"label": "Query"}),
        (MATH, "no label at all", "message", "no label at all", {"format_lenient": True}),
        (MATH, "Message: hi", "message", "Message: hi", {"format_lenient": True}),
        (DOC, "Message: draft pls", "message", "draft pls", {"label": "Message"}),
        (MATH, "terminate conversation", "action", "terminate conversation", {"terminate": True}),
        (MATH, "Response: Terminate Conversation.", "action", "terminate conversation", {"terminate": True}),
        (
            MATH,
            "ok i got 12, thanks! terminate conversation",
            "action",
            "terminate conversation",
            {"terminate": True, "termination_with_text": True},
        ),
        (MATH, "", "invalid_action", "empty message", {}),
        (MATH, "Query:   ", "invalid_action", "empty message", {}),
        (MATH, "<think>only thinking</think>", "invalid_action", "empty after removing thinking", {}),
    ],
)
def test_human_action_strings_and_what_they_become(env_id, action, kind, expected, flags):
    env = make(env_id, MATH_ROW if env_id == MATH else DOC_ROW)
    env.reset(seed=0)
    env.step(action)
    event = env.unwrapped.log[0]
    assert event.kind == kind and event.payload["raw"] == action
    if kind == "invalid_action":
        assert event.payload["reason"] == expected
        assert env.unwrapped.termination == "invalid" and all(env.terminations.values())
        return
    assert event.text == expected
    for key, value in flags.items():
        assert event.payload[key] == value
    assert event.payload.get("termination_with_text", False) == flags.get("termination_with_text", False)


def test_terminate_inside_a_longer_message_ends_the_episode_and_is_flagged():
    judge = SimArenaJudge(FakeJudgeModel([likert_reply(4, 3, ["Match", "No Match", "Match"])]), backoff_s=0.0)
    env = make(judge=judge)
    env.reset(seed=0)
    env.step("Query: is it 10")
    env.step("Can 10 be split into boxes of 4?")
    env.step("wait no. 12! terminate conversation")
    raw = env.unwrapped
    assert raw.termination == "student_end" and raw.status == "ok"
    judgment = raw.judgments["student"]
    assert judgment.flags["termination_with_text"]["flagged"]
    assert "12!" in judgment.flags["termination_with_text"]["evidence"][0]
    # The tutor never sees the termination or the dropped text.
    assert "12!" not in json.dumps(env.observe("tutor"))


# -- rollout ------------------------------------------------------------------------------------------------
def test_turn_limit_ends_after_the_tutors_reply():
    env, observations = play(make(max_student_turns=2), ["Query: a", "Response: b"])
    assert env.termination == "max_turns" and len(observations) == 2
    assert [e.source for e in env.log if e.kind == "message"] == ["student", "tutor", "student", "tutor"]
    for bad in (0, True, "8"):
        with pytest.raises(ValueError, match="max_student_turns"):
            make(max_student_turns=bad)
    with pytest.raises(TypeError, match="unknown options"):
        make(finalize=True)  # the math env has no finalize step
    with pytest.raises(ValueError, match="reward"):
        make(reward="mean")
    with pytest.raises(ValueError, match="finalize"):
        make(DOC, DOC_ROW, reward="odyssim", finalize=False)


def test_doc_finalize_step_is_private_to_the_assistant():
    assistant = ScriptedPolicy(["Draft one.", "Draft two.", "FINAL: Dear Ines, thank you."])
    env, observations = play(
        make(DOC, DOC_ROW), ["Message: a note pls", "Message: shorter", "terminate conversation"], assistant
    )
    assert env.termination == "user_end" and env.status == "unjudged"
    final = [e for e in env.log if e.payload.get("final_document")]
    assert len(final) == 1 and final[0].visibility == ("assistant",) and final[0].text.startswith("FINAL")
    assert "FINAL" not in json.dumps(observations) and "FINAL" not in json.dumps(env.observe("user"))
    # The finalize request is the assistant's turn prompt.
    env2 = make(DOC, DOC_ROW)
    env2.reset(seed=0)
    env2.step("Message: a note pls")
    env2.step("Draft.")
    env2.step("terminate conversation")
    assert env2.agent_selection == "assistant"
    assert env2.observe("assistant")["messages"][-1] == {"role": "user", "content": prompts.FINALIZE}
    # At the turn limit the assistant also finalizes; without finalize the episode ends at once.
    env3, _ = play(make(DOC, DOC_ROW, max_user_turns=1), ["Message: x"], ScriptedPolicy(["d1", "final"]))
    assert env3.termination == "max_turns" and [
        e.text for e in env3.log if e.payload.get("final_document")
    ] == ["final"]
    env4, _ = play(make(DOC, DOC_ROW, finalize=False), ["Message: x", "terminate conversation"])
    assert env4.termination == "user_end" and not any(e.payload.get("final_document") for e in env4.log)


def test_a_failing_tutor_ends_the_episode_failed_with_no_error_text():
    tutor = ScriptedPolicy(["Try listing multiples."], cycle=False)  # the second call fails
    env, _ = play(make(), ["Query: how", "Response: 4 8 12", "Response: more"], tutor)
    assert env.status == "failed" and "script exhausted" in env.termination
    conversation = [e for e in env.log if e.kind in ("message", "action")]
    assert [e.source for e in conversation] == ["student", "tutor", "student"]
    assert not any("rror" in e.text or "exhausted" in e.text for e in conversation)
    assert env.log[-1].kind == "end" and env.log[-1].payload["failed"]


def test_an_empty_tutor_reply_ends_the_episode_and_its_judgment_is_an_error():
    model = FakeJudgeModel([likert_reply(5, 5, [])])
    env = make(judge=SimArenaJudge(model, backoff_s=0.0))
    env.reset(seed=0)
    env.step("Query: how")
    with pytest.warns(RuntimeWarning, match="judge failed"):
        env.step("   ")
    raw = env.unwrapped
    assert raw.termination == "invalid tutor reply" and raw.status == "judge_error"
    assert "partial conversation" in raw.judgments["student"].error and model.requests == []


# -- observations --------------------------------------------------------------------------------------------
def test_observations_show_the_task_and_never_the_real_human():
    env = make()
    env.reset(seed=0)
    env.step("Query: is it 10")
    env.step("Can 10 muffins be packed in boxes of 4?")
    student = env.observe("student")["messages"]
    assert student[0]["role"] == "system" and MATH_ROW["problem"] in student[0]["content"]
    assert not student[0]["content"].startswith("You are an AI")  # D9
    assert MATH_ROW["user_profile_text"] in student[0]["content"]
    assert student[2:] == [
        {"role": "assistant", "content": "Query: is it 10"},
        {"role": "user", "content": "Can 10 muffins be packed in boxes of 4?"},
    ]
    text = json.dumps(student) + json.dumps(env.observe("tutor"))
    for hidden in [*MATH_ROW["human_user_queries"], "Message Length", MATH_ROW["correct_answer"] + " then"]:
        assert hidden not in text
    tutor = env.observe("tutor")["messages"]
    assert tutor[0]["content"] == prompts.TUTOR_SYSTEM
    assert tutor[1] == {
        "role": "user",
        "content": prompts.tutor_first_message(MathRow.model_validate(MATH_ROW), "is it 10"),
    }
    assert MATH_ROW["user_profile_text"] not in json.dumps(tutor)
    doc = make(DOC, DOC_ROW)
    doc.reset(seed=0)
    doc.step("Message: a note for Ines")
    assistant = doc.observe("assistant")["messages"]
    assert DOC_ROW["pre_writing_materials_text"] in assistant[1]["content"]
    assert DOC_ROW["target_document_preferences"] not in json.dumps(doc.observe("user")) + json.dumps(
        assistant
    )


def test_same_seed_same_episode():
    a, obs_a = play(make(MATH, None), ["Query: x", "Response: y", "terminate conversation"], seed=3)
    b, obs_b = play(make(MATH, None), ["Query: x", "Response: y", "terminate conversation"], seed=3)
    assert a.episode_id == b.episode_id and obs_a == obs_b


# -- judges and the metric -----------------------------------------------------------------------------------
def likert_reply(writing, interaction, classifications, names=None, rating=7):
    """A fake judge model answering each query by its schema (writing vs interaction by the prompt)."""

    def reply(request):
        title = request.json_schema.get("title", "")
        prompt = request.messages[-1]["content"]
        if title == "LikertAnswer":
            score = writing if "writing style" in prompt.split("## Your task")[1] else interaction
            return json.dumps({"key_differences": [f"gap {score}"], "similarity_score": score})
        if title == "DocumentAnswer":
            return json.dumps({"analysis": "fine", "rating": rating})
        listed = [
            line.split(". ", 1)[1].split(":")[0]
            for line in prompt.split("## Target features")[1].splitlines()[1:]
            if line[:1].isdigit()
        ]
        results = [
            {"feature_name": n, "analysis": f"a{k}", "classification": c}
            for k, (n, c) in enumerate(zip(names or listed, classifications))
        ]
        return json.dumps({"results": results})

    return reply


def judged(env_id, row, reply, actions=("Query: is it 10", "Can you pack 10?", "Response: 12", "Yes."), **kw):
    model = FakeJudgeModel([reply] if not isinstance(reply, list) else reply)
    env = make(env_id, row, **{k: v for k, v in kw.items() if k in ("finalize", "reward")})
    env.reset(seed=0)
    for action in actions:
        if env.terminations[env.agent_selection]:
            break
        env.step(action)
    record = env.unwrapped.episode_record()
    judge = SimArenaJudge(model, backoff_s=0.0, reward=kw.get("reward", "style"))
    return judge.judge_episode(record)[env.unwrapped.human], model, record


def test_worked_example_w4_i3_two_of_three_features():
    judgment, model, _ = judged(
        MATH, MATH_ROW, likert_reply(4, 3, ["Match", "No Match", "Match"]), max_student_turns=2
    )
    assert judgment.error is None
    assert judgment.score == pytest.approx((0.75 + 0.5 + 2 / 3) / 3)
    assert round(judgment.score, 3) == 0.639
    assert judgment.dims["score_odyssim"] == pytest.approx((0.8 + 0.6 + 2 / 3) / 3)
    assert round(judgment.dims["score_odyssim"], 3) == 0.689
    assert judgment.dims["f"] == pytest.approx(2 / 3) and judgment.dims["n_components"] == 3
    assert (judgment.dims["match.1"], judgment.dims["match.2"]) == (1.0, 0.0)
    assert judgment.dims["n_human_turns"] == 2 and judgment.dims["n_real_turns"] == 3
    assert len(model.requests) == 3
    writing, interaction = (r.messages[-1]["content"] for r in model.requests[:2])
    assert "## The simulated student's messages\n- is it 10\n- 12" in writing
    assert "- Student: is it 10\n- AI Tutor: Can you pack 10?\n- Student: 12\n- AI Tutor: Yes." in interaction
    assert "- Student: wait so it has to be in both lists" in interaction  # the real conversation
    assert prompts.TUTOR_FIRST.split("{")[0] not in json.dumps([r.messages for r in model.requests])


def test_no_features_scores_the_mean_of_two_likerts_and_f_is_not_applicable():
    judgment, model, _ = judged(MATH, PLAIN_MATH_ROW, likert_reply(5, 2, []))
    assert judgment.score == pytest.approx((1.0 + 0.25) / 2)
    assert "f" not in judgment.dims and judgment.dims.get("f") is None and judgment.dims["n_components"] == 2
    assert "not applicable" in judgment.reasons["f"] and len(model.requests) == 2
    # The original counted the missing component as 0: capped at 2/3.
    assert judgment.dims["score_odyssim"] == pytest.approx(odyssim_math(5, 2, None)) == pytest.approx(1.4 / 3)


def test_likert_one_is_zero_not_point_two():
    judgment, _, _ = judged(MATH, PLAIN_MATH_ROW, likert_reply(1, 1, []))
    assert judgment.score == 0.0 and judgment.dims["score_odyssim"] == pytest.approx(0.4 / 3)


@pytest.mark.parametrize(
    "reply",
    [
        likert_reply(4, 3, ["Match", "No Match"]),  # 2 results for 3 features
        likert_reply(
            4, 3, ["Match", "Match", "Match"], names=["Confidence", "Message Length", "Feedback Style"]
        ),
        likert_reply(7, 3, ["Match", "Match", "Match"]),  # out of range: not clipped
        likert_reply(0, 3, ["Match", "Match", "Match"]),
    ],
)
def test_malformed_judge_answers_are_retried_then_an_error(reply):
    judgment, model, _ = judged(MATH, MATH_ROW, reply)
    assert judgment.score is None and judgment.error and "after 3 attempts" in judgment.error
    assert len(model.requests) > 3  # the failing query was asked three times


def test_a_failed_judge_call_is_an_error_not_zero():
    judgment, _, _ = judged(MATH, MATH_ROW, [policy_error()])
    assert judgment.score is None and "judge call failed" in judgment.error


def test_first_action_invalid_scores_zero_without_a_model_call():
    judgment, model, _ = judged(MATH, MATH_ROW, likert_reply(5, 5, []), actions=("",))
    assert judgment.score == 0.0 and model.requests == []


def test_doc_components_document_rating_and_odyssim_reward():
    actions = (
        "Message: a note pls",
        "Draft.",
        "Message: no exclamation marks",
        "Draft 2.",
        "terminate conversation",
        "Dear Ines, thank you.",
    )
    reply = likert_reply(3, 5, ["Match", "No Match", "Match"], rating=8)
    judgment, model, _ = judged(DOC, DOC_ROW, reply, actions=actions)
    f_w, f_i = 1.0, 0.5
    assert judgment.score == pytest.approx((0.5 + 1.0 + f_w + f_i) / 4)  # the rating is not rewarded
    assert (judgment.dims["f_w"], judgment.dims["f_i"]) == (f_w, f_i) and judgment.dims["n_components"] == 4
    assert judgment.dims["document_rating"] == 8 and judgment.dims["d"] == pytest.approx(7 / 9)
    assert judgment.dims["score_odyssim"] == pytest.approx((0.8 + 0.6 + 1.0 + f_w + f_i) / 5)
    assert "[writing style]" in model.requests[2].messages[-1]["content"]
    odyssim, _, _ = judged(DOC, DOC_ROW, reply, actions=actions, reward="odyssim")
    assert odyssim.score == pytest.approx(judgment.dims["score_odyssim"])
    # No features: the two Likerts only; the original loses two fifths.
    plain, _, _ = judged(DOC, PLAIN_DOC_ROW, reply, actions=actions)
    assert plain.score == pytest.approx(0.75) and "f_w" not in plain.dims and "f_i" not in plain.dims
    assert (
        plain.dims["score_odyssim"]
        == pytest.approx(odyssim_doc(8, 3, 5, None, None))
        == pytest.approx(2.4 / 5)
    )

    # A failing document judge is logged, not fatal, under the default reward; fatal under "odyssim".
    def no_document(request):
        if request.json_schema.get("title") == "DocumentAnswer":
            return '{"analysis": "x", "rating": 11}'
        return reply(request)

    logged, _, _ = judged(DOC, DOC_ROW, no_document, actions=actions)
    assert logged.score == pytest.approx(judgment.score) and "document.error" in logged.reasons
    assert "score_odyssim" not in logged.dims
    fatal, _, _ = judged(DOC, DOC_ROW, no_document, actions=actions, reward="odyssim")
    assert fatal.score is None and "document" in fatal.error


# -- runner, replay, CLI, conformance ---------------------------------------------------------------------
def test_runner_stores_episodes_that_replay_exactly(tmp_path):
    path = tmp_path / "sa.duckdb"
    student = ScriptedPolicy(
        ["Query: how", "<think>short</think>Response: 12?", "terminate conversation"], name="student"
    )
    tutor = ScriptedPolicy(["What are the multiples of 4?", "Check the other list."], name="tutor")
    runner = Runner(
        path,
        policy=student,
        roles={"tutor": tutor, "assistant": tutor},
        judge=ValidTurnShareJudge(),
        progress=False,
    )
    summary = runner.run(
        jobs_for(MATH, 3, seed=0, scenarios=[0, 1, 2]) + jobs_for(DOC, 2, seed=0, scenarios=[0, 1])
    )
    assert summary.ok == 5, summary.failures
    with ReplayStore(path) as store:
        for row in store.episodes(runner.run_id).itertuples():
            assert replay_stored(store, row.episode_id, runner.run_id).ok


def test_cli_run_and_replay_check(tmp_path, capsys):
    """``osim run soul/simarena-math-v0 --policy tiny`` (the tutor is the tiny model too), then ``osim
    replay check``. One student turn and no judge keep it short; the judged run is in docs/tasks.md."""
    store = str(tmp_path / "X.duckdb")
    run = ["run", MATH, "--policy", "tiny", "--episodes", "3", "--store", store, "--no-progress"]
    assert main([*run, "--option", "max_student_turns=1", "--no-judge"]) == 0
    capsys.readouterr()
    assert main(["replay", "check", "--store", store]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 3


@pytest.mark.parametrize("env_id", [MATH, DOC])
def test_conformance_with_a_rule_judge(env_id):
    """What tests/test_conformance.py runs once the ids are in its LLM_JUDGED tuple."""
    ran = run_all(lambda **kw: osim_env.make(env_id, judge=ValidTurnShareJudge(), **kw), fuzz_examples=2000)
    assert "pettingzoo.api_test" in ran and "fuzz_actions_test" in ran


def test_bare_rows_route_by_their_fields(tmp_path):
    bare = [PLAIN_MATH_ROW, {"raw": json.dumps(PLAIN_DOC_ROW)}]
    loaded = simarena.load(_write(tmp_path, bare))
    assert [type(s.row) for s in loaded] == [MathRow, DocRow]
    assert loaded[1].row.document_type == PLAIN_DOC_ROW["document_type"]
    with pytest.raises(RowError) as info:
        simarena.load(_write(tmp_path, [{"raw": "{broken"}]))
    assert (info.value.row, info.value.field) == (0, "raw")
