"""soul/coser-v0: rows, actions, the director, thoughts, the flaw metric, observations, replay."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from judges_fakes import FakeJudgeModel
from testing_judges import FailingJudge

import osim_env
from osim.runner import Runner, jobs_for
from osim_env.data import RowError, load_rows
from osim_env.events import EventLog
from osim_env.scheduling import DirectorChoice
from policies import ScriptedPolicy
from replays import ReplayStore, replay_stored
from scenarios import coser
from scenarios.coser.env import director_choice, split_turn
from scenarios.coser.judge import CoSERJudge, character_turns, simulated_lines
from scenarios.coser.schema import CoSERRow

FIXTURE = Path("scenarios/coser/data/fixture.jsonl")
PUBLISHED = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
CLOCK = PUBLISHED[0]["extra_info"]  # Hedda, Master Aurel; no prefix
LIGHTHOUSE = PUBLISHED[1]["extra_info"]  # Ilse, Tomas, Bram; continue_from=2
ORCHARD = PUBLISHED[2]["extra_info"]  # Lena, Marta; wo_thought
HEDDA, AUREL = "character:Hedda", "character:Master Aurel"
FAST = {"backoff_s": 0.0}


def make(row=CLOCK, **options):
    env = osim_env.make("soul/coser-v0", scenario=row, judge=options.pop("judge", False), **options)
    env.reset(seed=options.pop("seed", 0) if "seed" in options else 0)
    return env


def play(env, actions):
    """Step ``(agent, action)`` pairs, checking that each agent is the one to act."""
    for agent, action in actions:
        assert env.agent_selection == agent, (env.agent_selection, agent, env.unwrapped.transcript_text())
        env.step(action)
    return env.unwrapped


def notices(raw):
    return [e.payload["reason"] for e in raw.log if e.kind == "system_notice"]


# -- rows -------------------------------------------------------------------------------------------
def test_fixture_rows_load_with_their_ids_and_normalized_cast():
    rows = coser.load(FIXTURE)
    assert [s.scenario_id for s in rows] == ["coser-clockmaker-1", "coser-lighthouse-1", "coser-orchard-1"]
    orchard = rows[2].row.circumstance
    assert orchard.speaking_characters_w_env == ["Lena", "Marta", "Environment"]  # added when missing
    lighthouse = rows[1].row.circumstance
    assert lighthouse.motivation("Tomas").startswith("Keep his debt secret")  # alias "thought"
    assert rows[0].row.circumstance.profile("Hedda").startswith("sharp-eyed apprentice, 17 Orphan")
    dumped = rows[0].row.model_dump(mode="json")
    assert dumped["circumstance"]["scenario"].startswith("Late evening")  # the published name


def test_published_parquet_bare_jsonl_and_string_encoded_circumstance(tmp_path):
    pq.write_table(pa.Table.from_pylist(PUBLISHED), tmp_path / "coser.parquet")
    from_parquet = coser.load(tmp_path / "coser.parquet")
    assert [s.row for s in from_parquet] == [s.row for s in coser.load(FIXTURE)]
    bare = {**CLOCK, "circumstance": json.dumps(CLOCK["circumstance"])}
    lowercase = copy.deepcopy(CLOCK)
    lowercase["circumstance"]["speaking_characters_w_env"] = ["Hedda", "environment", "Master Aurel"]
    path = tmp_path / "coser.jsonl"
    path.write_text(json.dumps(bare) + "\n" + json.dumps(lowercase) + "\n")
    first, second = coser.load(path)
    assert first.row == coser.load(FIXTURE)[0].row
    assert second.row.circumstance.speaking_characters_w_env == ["Hedda", "Environment", "Master Aurel"]


def _broken(path, change):
    row = copy.deepcopy(CLOCK)
    change(row)
    path.write_text(
        json.dumps(PUBLISHED[1]) + "\n" + json.dumps({"data_source": "coser", "extra_info": row}) + "\n"
    )
    return path


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r["circumstance"].pop("dialogues"), "circumstance.dialogues"),
        (lambda r: r["circumstance"].update(dialogues=[]), "circumstance.dialogues"),
        (lambda r: r["circumstance"]["plot"].pop("summary"), "circumstance.plot.summary"),
        (lambda r: r["circumstance"]["plot"].update(summary="  "), "circumstance.plot.summary"),
        (lambda r: r["circumstance"].pop("character_profiles"), "circumstance.character_profiles"),
        (lambda r: r["circumstance"]["character_profiles"].pop("Master Aurel"), "circumstance"),
        (lambda r: r["circumstance"].pop("scenario"), "circumstance.scenario"),
        (lambda r: r.update(continue_from=3), None),
        (lambda r: r.update(split="test"), "split"),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path, change, field):
    path = _broken(tmp_path / "bad.jsonl", change)
    with pytest.raises(RowError) as info:
        coser.load(path)
    assert info.value.file == str(path) and info.value.row == 1 and info.value.field == field
    assert [s.scenario_id for s in coser.load(path, on_invalid="skip")] == ["coser-lighthouse-1"]
    assert load_rows(path, CoSERRow, "coser", on_invalid="skip")[1] == 1  # one row skipped


def test_rows_of_another_task_are_rejected(tmp_path):
    path = tmp_path / "other.jsonl"
    path.write_text(json.dumps({**PUBLISHED[0], "data_source": "sotopia"}) + "\n")
    with pytest.raises(RowError) as info:
        coser.load(path)
    assert info.value.field == "data_source"


# -- actions ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "thought", "speech", "action"),
    [
        ("[She lies.] I never touched it. (steps back)", "She lies.", "I never touched it.", "steps back"),
        ("(nods slowly)", "", "", "nods slowly"),
        ("Hedda: The wax is warm.", "", "The wax is warm.", ""),
        ("Fine. [He must not see", "He must not see", "Fine.", ""),
        ("[a] Yes. [b] (sits) (sighs)", "a b", "Yes.", "sits sighs"),
    ],
)
def test_split_turn(text, thought, speech, action):
    turn = split_turn(text, "Hedda")
    assert (turn.thought, turn.speech, turn.action) == (thought, speech, action)
    assert "[" not in turn.visible and (speech in turn.visible)


@pytest.mark.parametrize(
    ("action", "kinds", "reason"),
    [
        ("[He hides it.] Master? (knocks)", ["message", "message"], None),
        ("(knocks twice)", ["action"], None),
        ("Master, the wax.", ["message"], None),
        ("[only a thought]", ["invalid_action"], "empty message"),
        ("   ", ["invalid_action"], "empty message"),
        ("<think>plan</think>", ["invalid_action"], "empty after removing thinking"),
        ("<think>plan</think>Master?", ["message"], None),
    ],
)
def test_character_actions_and_what_they_become(action, kinds, reason):
    raw = play(make(), [(HEDDA, action)])
    turn = [e for e in raw.log if e.source == HEDDA]
    assert [e.kind for e in turn] == kinds
    assert turn[0].payload["raw"] == action  # the exact action string, for replay
    if reason:
        assert turn[0].payload["reason"] == reason and turn[0].visibility == (HEDDA,)
    if action == "(sits) Yes. (sighs)":
        assert turn[0].text == action and turn[0].payload["action"] == "sits sighs"  # order kept
    if len(turn) == 2:  # a thought: private to its author, the visible part public
        assert turn[0].visibility == (HEDDA,) and turn[0].payload["thought"] == "He hides it."
        assert turn[1].visibility is None and turn[1].text == "Master? (knocks)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He must answer.\nNext Speaker: Master Aurel", ("character:Master Aurel", False)),
        ("**Next Speaker:** hedda", ("character:Hedda", False)),
        ("## next speaker: Environment.", ("environment", False)),
        ("Next Speaker: Hedda\nActually no. <END CHAT>", (None, True)),
        ("<end chat>? No.\nNext Speaker: Hedda", ("character:Hedda", False)),
        ("Next Speaker: Zed", ("Zed", False)),
        ("Hedda should talk.", (None, False)),
    ],
)
def test_director_choices(text, expected):
    roles = {
        "hedda": "character:Hedda",
        "master aurel": "character:Master Aurel",
        "environment": "environment",
    }
    assert director_choice(text, roles) == expected


def test_environment_narrates_and_empty_narration_is_invalid():
    raw = play(
        make(),
        [
            (HEDDA, "Hm."),
            ("director", "Next Speaker: Environment"),
            ("environment", "Environment: Snow falls."),
            ("director", "Next Speaker: Hedda"),
            (HEDDA, "Hm."),
            ("director", "Next Speaker: Environment"),
            ("environment", "[nothing]"),
        ],
    )
    narration = [e for e in raw.log if e.source == "environment"]
    assert narration[0].kind == "narration" and narration[0].text == "Snow falls."
    assert narration[1].kind == "invalid_action" and narration[1].payload["reason"] == "empty message"
    assert "Environment: Snow falls." in _text(raw.messages_for(HEDDA))


# -- the director, rounds and limits -----------------------------------------------------------------
def test_director_fallbacks_early_end_refusal_and_end():
    env = make(min_rounds_before_end=5)
    raw = play(
        env,
        [
            (HEDDA, "[He lies.] The wax is warm."),  # round 1
            ("director", "Next Speaker: Hedda"),  # the current speaker: fallback
        ],
    )
    assert notices(raw) == ["next speaker 'character:Hedda' is the current speaker"]
    notice = raw.log[-1]
    assert notice.visibility == ("director",) and notice.payload["next_speaker"] in (AUREL, "environment")
    env.step("Back to the gears.")  # round 2, whoever was drawn
    env.step("<END CHAT>")  # too early: refused, fallback
    assert notices(raw)[-1] == "the scene cannot end before round 5 (round 2)"
    assert raw.status == "running"
    env.step("Snow.")  # round 3
    env.step("Next Speaker: Nobody")
    assert notices(raw)[-1] == "unknown next speaker 'Nobody'"
    env.step("Hm.")  # round 4
    env.step("I think we are done.")  # no choice
    assert notices(raw)[-1] == "no next speaker given"
    env.step("Enough.")  # round 5
    env.step("They have said it all.\n<END CHAT>")
    assert raw.status == "unjudged" and raw.termination == "the director ended the scene"
    assert all(env.terminations.values())
    # Every fallback drew among the major characters and the environment, never the current speaker.
    for event in raw.log:
        if event.kind == "system_notice":
            before = [e.source for e in raw.log[: event.index] if e.source not in ("director", "env")]
            assert event.payload["next_speaker"] != before[-1]


def test_fallback_draws_depend_on_the_seed_only():
    def drawn(seed):
        env = osim_env.make("soul/coser-v0", scenario=CLOCK, judge=False)
        env.reset(seed=seed)
        out = []
        for _ in range(6):
            env.step("Hm.")
            env.step("Next Speaker: Nobody")
            out.append(env.agent_selection)
        return out

    assert drawn(3) == drawn(3)
    assert len({tuple(drawn(s)) for s in range(6)}) > 1


def test_max_rounds_and_three_invalid_actions_in_a_row():
    raw = play(
        make(max_rounds=2), [(HEDDA, "Hm."), ("director", "Next Speaker: Master Aurel"), (AUREL, "Hm.")]
    )
    assert raw.termination == "max_rounds (2) reached"
    env = make()
    raw = play(env, [(HEDDA, "[...]"), ("director", "<think>x")])  # the director's invalid action counts too
    assert notices(raw) == ["no next speaker given"] and raw.status == "running"
    env.step("")
    assert raw.termination == "invalid actions" and raw.status == "unjudged"
    with pytest.raises(ValueError, match="max_turns"):
        osim_env.make("soul/coser-v0", max_rounds=25)
    assert osim_env.make("soul/coser-v0", max_rounds=25, max_turns=50).options["max_rounds"] == 25


def test_continue_from_scripts_the_reference_prefix_and_the_director_acts_first():
    env = make(LIGHTHOUSE)
    raw = env.unwrapped
    scripted = [e for e in raw.log if e.payload.get("scripted")]
    assert [(e.source, e.kind) for e in scripted] == [
        ("character:Ilse", "message"),  # her thought, private
        ("character:Ilse", "message"),
        ("director", "message"),  # the forced choice
        ("character:Tomas", "message"),
    ]
    assert (
        scripted[0].visibility == ("character:Ilse",)
        and scripted[2].payload["next_speaker"] == "character:Tomas"
    )
    assert all("raw" not in e.payload for e in scripted)  # not actions: a replay does not re-step them
    assert env.agent_selection == "director"
    env.step("Next Speaker: Tomas")  # the last scripted speaker: fallback
    assert notices(raw) == ["next speaker 'character:Tomas' is the current speaker"]
    lines = simulated_lines(raw.episode_record())
    assert (
        lines[0]
        == "Ilse: The boat came at noon, Tomas. Where were you? (folds the logbook shut) [from the reference]"
    )
    assert character_turns(raw.episode_record()) == 0  # the prefix is not simulated
    assert make(LIGHTHOUSE, continue_from=0).agent_selection == "character:Ilse"
    with pytest.raises(ValueError, match="continue_from=9"):
        make(LIGHTHOUSE, continue_from=9)


# -- observations ------------------------------------------------------------------------------------
def _text(messages):
    return "\n".join(m["content"] for m in messages)


def test_thoughts_are_private_to_their_author_in_every_observation():
    env = make(LIGHTHOUSE)
    actions = [
        ("director", "Next Speaker: Bram"),
        ("character:Bram", "[SECRET-BRAM] The sea takes what it likes. (spits)"),
        ("director", "Next Speaker: Ilse"),
        ("character:Ilse", "[SECRET-ILSE] Then it takes our oil too."),
        ("director", "Next Speaker: Environment"),
        ("environment", "[SECRET-ENV] The lamp gutters."),
    ]
    raw = play(env, actions)
    for agent in raw.agents:
        seen = _text(raw.messages_for(agent))
        own = {"character:Bram": "SECRET-BRAM", "character:Ilse": "SECRET-ILSE"}.get(agent)
        for secret in (
            "SECRET-BRAM",
            "SECRET-ILSE",
            "SECRET-ENV",
            "He forgot the signal again",
            "Careful, old man",
        ):
            if secret == own:
                assert f"[{secret}]" in seen
            elif secret == "He forgot the signal again" and agent == "character:Ilse":
                assert secret in seen  # her own scripted thought
            else:
                assert secret not in seen, (agent, secret)
    ilse = raw.messages_for("character:Ilse")
    assert ilse[-2]["content"].startswith("[SECRET-ILSE]\nThen it takes") and ilse[-2]["role"] == "assistant"
    assert "Bram: The sea takes what it likes. (spits)" in _text(ilse)


def test_each_role_sees_its_prompt_and_no_other_motivation():
    env = make(LIGHTHOUSE)
    raw = env.unwrapped
    tomas = raw.messages_for("character:Tomas")[0]["content"]
    assert "You are Tomas" in tomas and "Keep his debt secret" in tomas and "Make Tomas own" not in tomas
    assert "Restless city boy" in tomas and "Old fisherman" in tomas and "Night in the lamp room" in tomas
    assert "at most about 60 words" in tomas and "[" in tomas
    environment = raw.messages_for("environment")[0]["content"]
    assert "1-3 sentences" in environment and "Keep his debt secret" not in environment
    director = raw.messages_for("director")
    assert "Ilse, Tomas, Bram, Environment" in director[0]["content"]
    assert "cannot end before 5 turns; 0 so far" in director[-1]["content"]
    assert "Salt on the Lamp Glass" in director[0]["content"]
    # Nobody but the director sees director turns or fallback notices.
    env.step("Next Speaker: Tomas")
    env.step("Hm.")
    assert "Your choice could not be used" in _text(raw.messages_for("director"))
    for agent in ("character:Ilse", "character:Tomas", "environment"):
        assert "Next Speaker" not in _text(raw.messages_for(agent))


def test_wo_thought_removes_and_flags_bracketed_text():
    env = make(ORCHARD)
    raw = play(env, [("character:Lena", "[I knew it.] You knew. (drops the letter)")])
    assert [e.kind for e in raw.log] == ["message"] and raw.log[0].payload["thought_removed"] is True
    assert raw.log[0].text == "You knew. (drops the letter)"
    assert "Do not write your thoughts" in raw.messages_for("character:Lena")[0]["content"]
    assert "I knew it" not in _text(raw.messages_for("character:Lena"))
    assert make(ORCHARD, wo_thought=False).unwrapped.wo_thought is False


def test_policy_characters_and_default_policies():
    raw = make(LIGHTHOUSE).unwrapped
    assert raw.policy_agents() == ("character:Ilse", "character:Tomas", "character:Bram")
    assert raw.default_policies() == {"environment": "tiny", "director": "tiny"}
    raw = make(LIGHTHOUSE, policy_characters=["Tomas"], partner_model="hf:/m").unwrapped
    assert raw.policy_agents() == ("character:Tomas",)
    assert raw.default_policies() == {
        r: "hf:/m" for r in ("character:Ilse", "character:Bram", "environment", "director")
    }
    with pytest.raises(ValueError):
        osim_env.make("soul/coser-v0", policy_characters="Tomas")
    with pytest.raises(TypeError):
        osim_env.make("soul/coser-v0", rounds=3)


def test_roles_follow_the_row_and_the_fixture():
    env = osim_env.make("soul/coser-v0", judge=False)
    assert env.possible_agents[-2:] == ["environment", "director"] and "character:Bram" in env.possible_agents
    env.reset(seed=0)
    assert set(env.agents) <= set(env.possible_agents)
    env.reset(seed=0, options={"scenario": CLOCK})
    assert env.agents == [HEDDA, AUREL, "environment", "director"]
    other = copy.deepcopy(CLOCK)
    other["circumstance"]["speaking_characters_w_env"] = ["Hedda", "Master Aurel", "Vera"]
    other["circumstance"]["character_profiles"]["Vera"] = "A guild inspector."
    env.reset(seed=0, options={"scenario": other})  # a new character joins the possible agents
    assert "character:Vera" in env.possible_agents and env.observation_space("character:Vera") is not None


def test_same_seed_same_episode():
    def run(seed):
        env = osim_env.make("soul/coser-v0", judge=False)
        env.reset(seed=seed)
        for _ in range(8):
            env.step("Next Speaker: Nobody" if env.agent_selection == "director" else "Hm. (waits)")
        return env.unwrapped.log.to_dicts(), env.unwrapped.episode_id

    assert run(4) == run(4)


# -- the metric -------------------------------------------------------------------------------------
def flaw_reply(severities):
    return json.dumps({"flaws": [{"instance": "x", "reason": "y", "severity": s} for s in severities]})


def twelve_turn_episode(judge, **options):
    """13 character rounds, one of them invalid (12 character turns), a director between them."""
    env = make(max_rounds=13, judge=judge, **options)
    speakers = [HEDDA, AUREL] * 7
    for i, speaker in enumerate(speakers[:13]):
        text = "[only a thought]" if i == 4 else f"Line {i}, Master. (turns)"
        if i == 7:
            text = "As an AI, I'm happy to help! Let me know if you need anything else."
        assert env.agent_selection == speaker
        env.step(text)
        if i < 12:
            env.step(f"Next Speaker: {'Master Aurel' if speaker == HEDDA else 'Hedda'}")
    return env


def test_flaw_formula_on_a_scripted_judge_gives_the_spec_example():
    model = FakeJudgeModel([flaw_reply([3, 4, 2])])
    env = twelve_turn_episode(CoSERJudge(model, **FAST))
    raw = env.unwrapped
    assert raw.termination == "max_rounds (13) reached" and raw.status == "ok"
    judgment = raw.judgments[HEDDA]
    assert judgment.dims["n_turns"] == 12.0  # the invalid turn is not a character turn
    for dim in ("storyline_consistency", "anthropomorphism", "character_fidelity", "storyline_quality"):
        assert judgment.dims[dim] == pytest.approx(73.0)  # 100 - (9 - 0.3*12)*5
    assert judgment.score == pytest.approx(0.73) and env.rewards[AUREL] == pytest.approx(0.73)
    assert 0.0 <= judgment.dims["bleu4"] <= 1.0 and 0.0 <= judgment.dims["rouge_l"] <= 1.0
    assert len(model.requests) == 4
    prompt = model.requests[0].messages[-1]["content"]
    assert (
        "Line 0, Master. (turns)" in prompt
        and "only a thought" not in prompt
        and "Next Speaker" not in prompt
    )
    # Detectors annotate, never change the score.
    aurel = raw.judgments[AUREL]  # his 8th line reads like an assistant
    assert aurel.flags["assistant_register"]["flagged"] is True and aurel.score == judgment.score
    assert judgment.flags["assistant_register"]["flagged"] is False
    assert set(judgment.flags) == {
        "assistant_register",
        "repetition",
        "length",
        "think_leak",
        "judge_address",
    }


def test_flaw_formula_branches_clip_at_0_and_100():
    replies = {
        "Storyline Consistency": [],
        "Anthropomorphism": [5] * 30,
        "Character Fidelity": [1],
        "Storyline Quality": [5, 5],
    }

    def reply(request):
        prompt = request.messages[-1]["content"]
        (severities,) = [v for k, v in replies.items() if f"## Dimension\n{k}" in prompt]
        return flaw_reply(severities)

    judgment = twelve_turn_episode(CoSERJudge(FakeJudgeModel([reply]), **FAST)).unwrapped.judgments[HEDDA]
    # 100 - (0 - 3.6)*5 = 118 -> 100; 150 - 3.6 -> 0; 100 - (1 - 3.6)*5 = 113 -> 100; 100 - (10 - 3.6)*5 = 68
    assert [
        judgment.dims[d]
        for d in ("storyline_consistency", "anthropomorphism", "character_fidelity", "storyline_quality")
    ] == pytest.approx([100.0, 0.0, 100.0, 68.0])
    assert judgment.score == pytest.approx(2.68 / 4)


def test_judge_failures_are_errors_never_scores():
    with pytest.warns(RuntimeWarning, match="the judge failed"):
        env = twelve_turn_episode(CoSERJudge(FakeJudgeModel(["not json"]), **FAST))
    raw = env.unwrapped
    assert raw.status == "judge_error" and raw.judgments[HEDDA].score is None and raw.judgments[HEDDA].error
    assert env.infos[HEDDA]["score"] is None and env.rewards[HEDDA] == 0.0
    with pytest.warns(RuntimeWarning):
        raw = twelve_turn_episode(FailingJudge()).unwrapped
    assert raw.status == "judge_error"
    bad = json.dumps({"flaws": [{"instance": "x", "reason": "y", "severity": 9}]})  # out of range
    with pytest.warns(RuntimeWarning):
        raw = twelve_turn_episode(CoSERJudge(FakeJudgeModel([bad]), **FAST)).unwrapped
    assert raw.judgments[HEDDA].score is None and "severity" in raw.judgments[HEDDA].error


def test_default_judge_and_scoring_option():
    raw = make(scoring="anchored", judge_model="tiny").unwrapped
    judge = raw.default_judge()
    assert isinstance(judge, CoSERJudge) and judge.scoring == "anchored"
    with pytest.raises(ValueError):
        osim_env.make("soul/coser-v0", scoring="stars")


# -- replay and the runner --------------------------------------------------------------------------
DIRECTOR_LINES = ["Next Speaker: Nobody", "<END CHAT>", "Next Speaker: Environment", "They should answer."]


def test_stored_episodes_replay_exactly_with_scripted_roles(tmp_path):
    characters = ScriptedPolicy(["[hidden] Well? (waits)", "", "No. (turns away)"], name="characters")
    roles = {
        "environment": ScriptedPolicy(["The wind rises.", "Environment: Rain."], name="env"),
        "director": ScriptedPolicy(DIRECTOR_LINES, name="director"),
    }
    path = tmp_path / "coser.duckdb"
    runner = Runner(path, policy=characters, roles=roles, judge=False, progress=False)
    summary = runner.run(jobs_for("soul/coser-v0", 4, seed=0, options={"max_rounds": 6}))
    assert summary.unjudged == 4 and summary.failed == 0
    with ReplayStore(path) as store:
        episodes = store.episodes(runner.run_id)
        assert len(set(episodes["scenario_id"])) > 1  # fixture rows drawn from the seeds
        for episode_id in episodes["episode_id"]:
            assert replay_stored(store, episode_id, runner.run_id).ok


def test_cli_run_with_the_tiny_model_plays_every_role_and_replays(tmp_path, tiny_model_dir):
    script = str(Path(sys.executable).with_name("osim"))
    store = tmp_path / "X.duckdb"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "120"}
    for key in ("OPENAI_API_KEY", "OSIM_JUDGE_MODEL", "OSIM_PARTNER_MODEL"):
        env.pop(key, None)
    run = [script, "run", "soul/coser-v0", "--policy", "tiny?max_new_tokens=16", "--episodes", "3"]
    run += ["--store", str(store), "--option", "max_rounds=3", "--no-judge", "--no-progress"]
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    check = subprocess.run(
        [script, "replay", "check", "--store", str(store)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert check.returncode == 0 and check.stdout.count("reproduced exactly") == 3, (
        check.stdout + check.stderr
    )
    with ReplayStore(store) as s:
        (run_id,) = set(s.episodes()["run_id"])
        calls = s.model_calls(run_id)
        roles = set(calls["role"])
    # The tiny model (HF backend) played characters, the environment and the director.
    assert {"director", "environment"} <= roles and any(r.startswith("character:") for r in roles)
    assert calls["policy"].str.contains('"backend":"hf"').all()


def test_director_choice_fallback_pool_and_refused_choices():
    notes: list[tuple[str, str]] = []
    speakers = ("character:A", "character:B", "character:minor", "environment")
    scheduler = DirectorChoice(
        "director",
        speakers,
        "character:A",
        on_fallback=lambda chosen, reason: notes.append((chosen, reason)),
        fallback=("character:A", "environment"),  # the major characters and the environment
    )
    rng = np.random.default_rng(0)
    present = [*speakers, "director"]
    log = EventLog()
    log.append("message", "character:A", {"text": "hi"}, turn=0)
    log.append("message", "director", {"next_speaker": "character:B", "refused": "too early"}, turn=1)
    drawn = {scheduler.next(log, "director", present, rng) for _ in range(20)}
    assert drawn == {"environment"}  # the pool minus the current speaker
    assert notes[-1] == ("environment", "too early")
    log.append("message", "environment", {"text": "rain"}, turn=2)
    log.append("message", "director", {"next_speaker": None}, turn=3)
    assert {scheduler.next(log, "director", present, rng) for _ in range(20)} == {"character:A"}
    only = DirectorChoice("director", speakers, "character:A", fallback=("environment",))
    # The pool minus the current speaker is empty: any other speaker.
    assert {only.next(log, "director", present, rng) for _ in range(30)} == {
        "character:A",
        "character:B",
        "character:minor",
    }


def test_no_observation_holds_the_reference_dialogue_beyond_the_scripted_prefix():
    env = osim_env.make("soul/coser-v0", judge=False)
    for seed in range(3):
        env.reset(seed=seed)
        for _ in range(6):
            env.step("Next Speaker: Nobody" if env.agent_selection == "director" else "Hm. (waits)")
        raw = env.unwrapped
        c = raw.row.circumstance
        hidden = [split_turn(d.message, d.character).visible for d in c.dialogues[raw.continue_from :]]
        for agent in raw.agents:
            seen = _text(raw.messages_for(agent))
            assert not any(line in seen for line in hidden), (agent, seed)
