"""soul/userllm-v0: rows, actions, the metric on the fixture rows, observations, replay and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from judges_fakes import FakeJudgeModel, policy_error

import osim_env
from osim.cli import main
from osim.runner import Runner, jobs_for
from osim_env.data import RowError, load_rows
from policies import ScriptedPolicy
from replays import ReplayStore, replay_stored
from scenarios import userllm
from scenarios.userllm.judge import END_TOKEN, UserLLMJudge
from scenarios.userllm.schema import DATA_SOURCE, UserLLMRow

FIXTURE = Path("scenarios/userllm/data/fixture.jsonl")
LINES = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
CSQA, NQ, PRISM_FIRST, PRISM_GO_ON, PRISM_LAST = (line.get("extra_info", line) for line in LINES)
FAST = {"backoff_s": 0.0}


def answer(name: str, **fields: str) -> str:
    """A judge model reply: ``{"reasoning": ..., <field>: ...}``."""
    return json.dumps({"reasoning": name, **fields})


def scripted_judge_model() -> FakeJudgeModel:
    """HUMAN for the AI-text detector, REFUSED for the NQ judge."""

    def reply(request) -> str:
        if request.json_schema["title"] == "NQAnswer":
            return answer("re-asked", verdict="REFUSED")
        return answer("casual", label="HUMAN")

    return FakeJudgeModel([reply])


def play(text: str, row: dict, model: FakeJudgeModel | None = None):
    env = osim_env.make(
        "soul/userllm-v0", scenario=row, judge=UserLLMJudge(model or FakeJudgeModel(["x"]), **FAST)
    )
    env.reset(seed=0)
    env.step(text)
    return env


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- rows --------------------------------------------------------------------------------------------
def test_fixture_rows_cover_the_three_subsets_with_normalized_fields():
    rows = userllm.load(FIXTURE)
    assert [s.row.subset for s in rows] == ["csqa", "nq", "prism", "prism", "prism"]
    csqa, nq, first, go_on, last = (s.row for s in rows)
    assert csqa.intent.startswith("Ask where a spare umbrella") and "chatting with" not in csqa.intent
    assert csqa.choices == ["lost and found", "coat rack", "car trunk", "supply closet", "bank vault"]
    assert first.intent.startswith("get advice on keeping a basil")  # from the alias intent_summary
    assert go_on.is_last_turn is False and last.is_last_turn is True  # "False" is false
    assert nq.question and nq.assistant_suggestion_turn and not first.has_history and go_on.has_history
    assert rows[0].scenario_id == "userllm-fx-0"


def test_published_parquet_layout_and_jsonl(tmp_path):
    rows = [
        {
            "data_source": "userllm",
            "extra_info": json.dumps({**line.get("extra_info", line), "index": f"u{i}"}),
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": ""},
        }
        for i, line in enumerate(LINES)
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "userllm.parquet")
    loaded = userllm.load(tmp_path / "userllm.parquet")
    assert [s.scenario_id for s in loaded] == [f"u{i}" for i in range(5)]
    assert loaded[3].row.is_last_turn is False and loaded[0].row.choices[1] == "coat rack"
    struct = [
        {
            "data_source": "userllm",
            "extra_info": {**CSQA, "index": "c0"},
            "prompt": [{"role": "user", "content": "?"}],
            "reward_model": {"ground_truth": ""},
        }
    ]
    pq.write_table(pa.Table.from_pylist(struct), tmp_path / "csqa.parquet")
    (one,) = userllm.load(tmp_path / "csqa.parquet")
    assert one.scenario_id == "c0" and one.row.choices == userllm.load(FIXTURE)[0].row.choices
    bare = write_jsonl(tmp_path / "bare.jsonl", [PRISM_GO_ON, NQ])
    assert [s.row.subset for s in userllm.load(bare)] == ["prism", "nq"]


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({k: v for k, v in NQ.items() if k != "question"}, "question", "an NQ row needs question"),
        (
            {**NQ, "assistant_suggestion_turn": "  "},
            "assistant_suggestion_turn",
            "needs assistant_suggestion_turn",
        ),
        ({k: v for k, v in CSQA.items() if k != "choices"}, "choices", "needs answer choices"),
        ({**CSQA, "choices": {"label": [], "text": []}}, "choices", "needs answer choices"),
        ({**PRISM_FIRST, "source": "reddit"}, "source", "unknown UserLLM source"),
        ({**PRISM_GO_ON, "is_last_turn": "maybe"}, "is_last_turn", "must be true or false"),
        ({**PRISM_GO_ON, "is_last_turn": 1}, "is_last_turn", "must be true or false"),
        (
            {"source": "prism", "intent": "You are a user chatting with an AI."},
            "intent",
            "the intent is empty",
        ),
        ({"source": "prism"}, "intent", "Field required"),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path, row, field, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [PRISM_FIRST, row, NQ])
    with pytest.raises(RowError) as info:
        userllm.load(path)
    err = info.value
    assert (err.file, err.row, err.field) == (str(path), 1, field)
    assert message in str(err) and "line 2" in str(err)
    assert len(userllm.load(path, on_invalid="skip")) == 2
    scenarios, skipped = load_rows(path, UserLLMRow, DATA_SOURCE, on_invalid="skip")
    assert len(scenarios) == 2 and skipped == 1


def test_other_tasks_rows_are_rejected(tmp_path):
    path = write_jsonl(tmp_path / "wrong.jsonl", [{"data_source": "mirrorbench", "extra_info": PRISM_FIRST}])
    with pytest.raises(RowError, match="data_source") as info:
        userllm.load(path)
    assert info.value.field == "data_source"


def test_aliases_and_encodings_normalize():
    row = UserLLMRow.model_validate(
        {
            "source": "commonsense_qa",
            "opening_prompt": "You are a user chatting with an assistant: ask where to keep a spare key",
            "choices": '["doormat", "flower pot"]',
            "conversation_history": json.dumps(PRISM_LAST["conversation_history"]),
            "is_last_turn": "TRUE",
            "id": 7,
        }
    )
    assert row.intent == "ask where to keep a spare key" and row.choices == ["doormat", "flower pot"]
    assert row.user_turns() == ["my sourdough keeps coming out dense, why", "ok so longer rise, got it"]
    assert row.is_last_turn is True and row.id == "7"
    assert UserLLMRow.model_validate({**PRISM_FIRST, "is_last_turn": ""}).is_last_turn is None
    summary = UserLLMRow.model_validate({"source": "PRISM-seq", "intent_summary": "x"})
    assert summary.intent == "x" and summary.subset == "prism"


# -- actions -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("ok route ideas first pls", ("message", "ok route ideas first pls", False)),
        ("User: ok route ideas", ("message", "ok route ideas", False)),
        ("**User:** ok route ideas", ("message", "ok route ideas", False)),
        (f"perfect thanks {END_TOKEN}", ("message", "perfect thanks", True)),
        (f"{END_TOKEN}", ("message", "", True)),
        (f"bye {END_TOKEN} and here is more {END_TOKEN}", ("message", "bye", True)),
        ("route ideas\nAssistant: Sure! Here are three routes.", ("message", "route ideas", False)),
        ("<think>short and casual</think>route ideas pls", ("message", "route ideas pls", False)),
        ("", ("invalid_action", "empty message")),
        ("User:   ", ("invalid_action", "empty message")),
        ("Assistant: Here are three routes.", ("invalid_action", "empty message")),
        ("<think>only thinking</think>", ("invalid_action", "empty after removing thinking")),
    ],
)
def test_action_strings_and_what_they_become(action, expected):
    env = osim_env.make("soul/userllm-v0", scenario=PRISM_GO_ON, judge=False)
    env.reset(seed=0)
    env.step(action)
    event = env.unwrapped.log[0]
    assert event.kind == expected[0] and event.payload["raw"] == action
    if event.kind == "message":
        assert (event.payload["text"], event.payload["ended"]) == expected[1:]
        assert env.unwrapped.termination == ("ended the conversation" if expected[2] else "replied")
    else:
        assert event.payload["reason"] == expected[1] == env.infos["user"]["invalid_reason"]
        assert env.unwrapped.termination == "invalid reply"
    assert all(env.terminations.values()) and env.unwrapped.log[-1].kind == "end"


# -- the metric on the fixture rows ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "score", "named"),
    [
        ("where would an office keep a spare umbrella?", 1.0, 0),
        ("is it on the coat rack?", 0.0, 1),
        ("coat rack or supply closet, which one", 0.0, 2),
        ("lost and found, coat rack or supply closet?", 1.0, 3),
        ("lost and found, coat rack, car trunk, supply closet or bank vault?", 1.0, 5),
        (f"which one? {END_TOKEN} bank vault", 1.0, 0),  # text after the end token is never judged
        ("spare umbrella at work, where?\nAssistant: the coat rack", 1.0, 0),
        (f"{END_TOKEN}", 0.0, 0),  # no question asked
    ],
)
def test_csqa_role_adherence_on_the_fixture_row(action, score, named):
    model = FakeJudgeModel(["never"])
    env = play(action, CSQA, model)
    judgment = env.unwrapped.judgments["user"]
    assert env.rewards == {"user": score} and judgment.score == score
    assert judgment.dims["choices_named"] == named and judgment.dims["valid"] == 1.0
    assert env.unwrapped.status == "ok" and model.requests == []


def test_invalid_reply_scores_zero_without_a_model_call():
    for row in (CSQA, NQ, PRISM_FIRST, PRISM_LAST):
        model = FakeJudgeModel(["never"])
        env = play("User:", row, model)
        judgment = env.unwrapped.judgments["user"]
        assert judgment.score == 0.0 and judgment.dims == {"valid": 0.0} and judgment.error is None
        assert judgment.reasons["reply"] == "empty message" and model.requests == []


@pytest.mark.parametrize(
    ("row", "action", "label", "score", "termination"),
    [
        (PRISM_GO_ON, "ok route ideas first pls", "HUMAN", 1.0, 1.0),
        (PRISM_GO_ON, "ok route ideas first pls", "AI", 0.5, 1.0),
        (PRISM_GO_ON, f"cool thanks {END_TOKEN}", "HUMAN", 0.5, 0.0),  # is_last_turn "False": no end
        (PRISM_LAST, f"thx {END_TOKEN} bye now", "HUMAN", 1.0, 1.0),
        (PRISM_LAST, "thx, what about rye flour?", "HUMAN", 0.5, 0.0),
        (PRISM_LAST, f"thx {END_TOKEN}", "AI", 0.5, 1.0),
        (PRISM_FIRST, "my basil keeps dying on the north window, help?", "HUMAN", 1.0, None),
        (PRISM_FIRST, "my basil keeps dying on the north window, help?", "AI", 0.0, None),
    ],
)
def test_prism_score_is_the_mean_of_the_parts_that_apply(row, action, label, score, termination):
    model = FakeJudgeModel([answer("looks typed fast", label=label)])
    judgment = play(action, row, model).unwrapped.judgments["user"]
    assert judgment.score == score and judgment.dims["human_like"] == float(label == "HUMAN")
    assert judgment.dims.get("termination_correct") == termination
    assert judgment.reasons["human_like"] == "looks typed fast"
    assert "bye now" not in model.requests[0].messages[-1]["content"]


def test_prism_end_token_alone_needs_no_model_call():
    model = FakeJudgeModel(["never"])
    last = play(END_TOKEN, PRISM_LAST, model).unwrapped.judgments["user"]
    assert last.score == 1.0 and last.dims["termination_correct"] == 1.0 and "human_like" not in last.dims
    go_on = play(END_TOKEN, PRISM_GO_ON, model).unwrapped.judgments["user"]
    assert go_on.score == 0.0 and go_on.dims["termination_correct"] == 0.0
    first = play(END_TOKEN, PRISM_FIRST, model).unwrapped.judgments["user"]
    assert first.score == 0.0 and "termination_correct" not in first.dims
    assert model.requests == []


def test_intent_overlap_is_reported_never_rewarded():
    model = FakeJudgeModel([answer("casual", label="HUMAN")])
    own = play("my basil keeps dying on the north window, help?", PRISM_FIRST, model).unwrapped.judgments[
        "user"
    ]
    # {basil, keeps, dying, north, window, help} ∩ the intent's words = {basil, north}
    assert own.dims["intent_overlap"] == pytest.approx(2 / 6)
    copied = play(PRISM_FIRST["intent_summary"], PRISM_FIRST, model).unwrapped.judgments["user"]
    assert copied.dims["intent_overlap"] == 1.0 and copied.score == own.score == 1.0


@pytest.mark.parametrize(("verdict", "score"), [("REFUSED", 1.0), ("ACCEPTED", 0.0)])
def test_nq_scripted_verdicts(verdict, score):
    model = FakeJudgeModel([answer("verdict", verdict=verdict)])
    env = play(f"no, i need the YEAR it was built {END_TOKEN} TAIL-AFTER-END", NQ, model)
    judgment = env.unwrapped.judgments["user"]
    assert judgment.score == score and judgment.dims["refused"] == score and judgment.dims["ended"] == 1.0
    prompt = model.requests[0].messages[-1]["content"]
    assert "no, i need the YEAR it was built" in prompt and NQ["assistant_suggestion_turn"] in prompt
    assert "TAIL-AFTER-END" not in prompt and END_TOKEN not in prompt


def test_nq_ending_without_insisting_scores_zero_without_a_model_call():
    model = FakeJudgeModel(["never"])
    judgment = play(END_TOKEN, NQ, model).unwrapped.judgments["user"]
    assert judgment.score == 0.0 and judgment.dims["refused"] == 0.0 and model.requests == []


@pytest.mark.parametrize("row", [NQ, PRISM_FIRST])
@pytest.mark.parametrize("reply", ["{not json", policy_error()])
def test_judge_model_failure_is_an_error_not_a_score(row, reply):
    model = FakeJudgeModel([reply])
    with pytest.warns(RuntimeWarning, match="judge failed"):
        env = play("what year tho", row, model)
    raw = env.unwrapped
    assert raw.status == "judge_error" and raw.judgments["user"].score is None
    assert raw.judgments["user"].error and env.infos["user"]["score"] is None
    assert env.infos["user"]["judge_error"] == raw.judgments["user"].error and env.rewards == {"user": 0.0}


def test_detectors_flag_without_changing_the_score():
    model = FakeJudgeModel([answer("casual", label="HUMAN")])
    helpful = play("basil tips? Let me know if you need anything else.", PRISM_FIRST, model)
    judgment = helpful.unwrapped.judgments["user"]
    assert judgment.flags["assistant_register"]["flagged"] and not judgment.flags["length"]["flagged"]
    assert judgment.score == 1.0 and "penalty" not in judgment.flags
    long = play(" ".join(["basil"] * 101), PRISM_FIRST, model).unwrapped.judgments["user"]
    assert long.flags["length"]["flagged"] and long.score == 1.0
    leaked = play("is it the coat rack? happy to help", CSQA, model).unwrapped.judgments["user"]
    assert set(leaked.flags) == {"assistant_register", "length"} and leaked.score == 0.0


# -- observations ------------------------------------------------------------------------------------
def observe(row: dict) -> list[dict[str, str]]:
    env = osim_env.make("soul/userllm-v0", scenario=row, judge=False)
    env.reset(seed=0)
    return env.observe("user")["messages"]


def test_first_turn_observation_shows_the_intent_and_never_the_choices():
    system, opening = observe(CSQA)
    assert system["role"] == "system" and "Ask where a spare umbrella" in system["content"]
    assert "chatting with" not in system["content"]
    assert opening == {"role": "user", "content": "Write your opening message to the assistant."}
    text = json.dumps([system, opening])
    assert not any(choice in text for choice in ("coat rack", "lost and found", "bank vault"))


def test_later_turn_observation_shows_the_transcript_and_the_end_rule_never_the_gold():
    system, turn = observe(PRISM_LAST)
    assert "understand why sourdough bread" in system["content"]
    assert "assistant: Exactly. A warm spot around 25 C helps too." in turn["content"]
    assert turn["content"].endswith(f"reply only with {END_TOKEN}; otherwise write your next message.")
    assert observe({**PRISM_LAST, "is_last_turn": False}) == [system, turn]  # the flag is not shown
    _, nq = observe(NQ)
    assert NQ["conversation_history"] in nq["content"]


def test_seed_decides_the_fixture_row_and_observations_repeat():
    def first_obs(seed: int):
        env = osim_env.make("soul/userllm-v0", judge=False)
        env.reset(seed=seed)
        return env.unwrapped.scenario.scenario_id, env.observe("user")

    assert first_obs(3) == first_obs(3)
    assert len({first_obs(seed)[0] for seed in range(12)}) > 1


def test_options_and_default_judge():
    env = osim_env.make_raw("soul/userllm-v0", scenario=0)
    assert env.options == {"judge_model": None} and env.policy_agents() == ("user",)
    assert env.default_policies() == {} and isinstance(env.default_judge(), UserLLMJudge)
    with pytest.raises(TypeError, match="unknown options"):
        osim_env.make("soul/userllm-v0", scenario=0, partner_model="tiny")


def test_feedback_is_private_and_droppable():
    env = osim_env.make("soul/userllm-v0", scenario=PRISM_FIRST, judge=False)
    env.reset(seed=0, options={"feedback": "Keep it short."})
    raw = env.unwrapped
    assert "Feedback from a previous attempt" in env.observe("user")["messages"][0]["content"]
    assert "Keep it short." not in json.dumps(raw.messages_for("user", with_feedback=False))


# -- replay and the CLI ------------------------------------------------------------------------------
ACTIONS = [
    "where does an office keep spare umbrellas",
    f"no, what YEAR {END_TOKEN} ignored",
    "<think>be brief</think>basil keeps dying, north window",
    "User: ok route ideas first",
    END_TOKEN,
    "",
]


def test_stored_episodes_replay_exactly(tmp_path):
    store_path = tmp_path / "userllm.duckdb"
    judge = UserLLMJudge(scripted_judge_model(), **FAST)
    runner = Runner(store_path, policy=ScriptedPolicy(ACTIONS, name="script"), judge=judge, progress=False)
    summary = runner.run(jobs_for("soul/userllm-v0", 6, seed=0, scenarios=[0, 1, 2, 3, 4, 1]))
    assert summary.ok == 6, summary.failures
    with ReplayStore(store_path) as store:
        episodes = store.episodes(runner.run_id)
        assert len(episodes) == 6
        for row in episodes.itertuples():
            assert replay_stored(store, row.episode_id, runner.run_id).ok


def test_cli_run_and_replay_check(tmp_path, capsys):
    script = tmp_path / "actions.txt"
    script.write_text("\n".join(a for a in ACTIONS if a) + "\n", encoding="utf-8")
    store = tmp_path / "cli.duckdb"
    code = main(
        ["run", "soul/userllm-v0", "--policy", f"scripted:{script}", "--episodes", "5", "--no-judge",
         "--store", str(store), "--concurrency", "2", "--no-progress"]
    )  # fmt: skip
    assert code == 0 and "5 episodes run" in capsys.readouterr().out
    assert main(["replay", "check", "--store", str(store)]) == 0
    assert capsys.readouterr().out.count("reproduced exactly") == 5
