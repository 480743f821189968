"""MirrorBench judges (GTEval, PI, RNR), lexical dims, detectors (docs/tasks.md#mirrorbench)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judges_fakes import FakeJudgeModel, record_with_turns

import osim_env
from replays import EpisodeResult, ReplayStore
from scenarios.mirrorbench.judge import (
    MirrorBenchJudge,
    calibrate,
    pi_value,
    proxy_is_a,
    reference_conversation,
)
from scenarios.mirrorbench.policy import ReferenceReplyPolicy

FAST = {"backoff_s": 0.0}


def _schema_title(request) -> str:
    return request.json_schema.get("title", "")


# -- MirrorBench -----------------------------------------------------------------------------------
MB_ROW = {
    "task_description": "Quick dinner idea with leftover rice; short lowercase bursts; allergic to eggs.",
    "turns": [
        {"role": "user", "content": "dinner idea w leftover rice? fast pls"},
        {"role": "assistant", "content": "Try egg fried rice."},
        {"role": "user", "content": "no eggs, allergic"},
        {"role": "assistant", "content": "Then a veggie rice skillet."},
    ],
}


def _mb_record(seed: int = 0):
    turns = [
        ("user", "Hello! I would love a dinner idea that uses leftover rice."),
        ("assistant", "Try egg fried rice."),
        ("user", "I am allergic to eggs, unfortunately."),
        ("assistant", "Then a veggie rice skillet."),
    ]
    return record_with_turns(turns, MB_ROW, agents=["user", "assistant"], policy_agents=["user"], seed=seed)


def _mb_reply(gteval="0.6", pi="A", rnr="YES"):
    def reply(request):
        title = _schema_title(request)
        if title == "GTEvalAnswer":
            return '{"reasoning": "r", "score": ' + gteval + "}"
        if title == "PIAnswer":
            return '{"reasoning": "r", "verdict": "' + pi + '"}'
        return '{"reasoning": "r", "verdict": "' + rnr + '"}'

    return reply


def test_mirrorbench_formulas():
    assert pi_value("TIE", True) == 0.5
    assert pi_value("A", True) == 1.0 and pi_value("A", False) == 0.0 and pi_value("B", False) == 1.0
    assert calibrate(0.5, 0.5, 0.1) == 1.0 and calibrate(0.3, 0.5, 0.1) == pytest.approx(0.5)
    assert calibrate(0.0, 0.5, 0.1) == 0.0
    orders = {proxy_is_a(_mb_record(seed)) for seed in range(12)}
    assert orders == {True, False}  # the order varies with the seed ...
    assert proxy_is_a(_mb_record(3)) == proxy_is_a(_mb_record(3))  # ... and is reproducible
    assert [t["role"] for t in reference_conversation(MB_ROW, max_user_turns=1)] == ["user"]


def test_mirrorbench_judge_mean_reward():
    record = _mb_record(seed=5)
    model = FakeJudgeModel([_mb_reply()])
    j = MirrorBenchJudge(model, reward="judge_mean", **FAST).judge_episode(record)["user"]
    pi = 1.0 if proxy_is_a(record) else 0.0
    assert j.dims["pi"] == pi and j.dims["gteval"] == 0.6 and j.dims["rnr"] == 1.0
    assert j.score == pytest.approx((0.6 + pi + 1.0) / 3)
    assert {"proxy.mattr", "human.mattr", "proxy.yules_k", "human.hdd"} <= set(j.dims)
    (pi_request,) = [r for r in model.requests if _schema_title(r) == "PIAnswer"]
    prompt = pi_request.messages[-1]["content"]
    first = prompt.index("## Conversation A")
    second = prompt.index("## Conversation B")
    proxy_at = prompt.index("I am allergic to eggs")
    assert (first < proxy_at < second) == proxy_is_a(record)


def test_mirrorbench_optional_judge_failure_is_logged_required_is_fatal():
    record = _mb_record()
    model = FakeJudgeModel([_mb_reply(pi="MAYBE")])
    j = MirrorBenchJudge(model, reward="gteval", **FAST).judge_episode(record)["user"]
    assert j.score == 0.6 and "pi" not in j.dims and "pi.error" in j.reasons
    failed = MirrorBenchJudge(FakeJudgeModel([_mb_reply(pi="MAYBE")]), reward="pi", **FAST).judge_episode(
        record
    )
    assert failed["user"].score is None
    out_of_range = MirrorBenchJudge(FakeJudgeModel([_mb_reply(gteval="1.5")]), judges=["gteval"], **FAST)
    assert out_of_range.judge_episode(record)["user"].error
    with pytest.raises(ValueError):
        MirrorBenchJudge(model, reward="bleu")


# -- on real episodes of soul/mirrorbench-v0 ----------------------------------------------------------
FIXTURE_ROW = json.loads(Path("scenarios/mirrorbench/data/fixture.jsonl").read_text().splitlines()[0])[
    "extra_info"
]
LEXICAL = {
    "proxy.tokens",
    "proxy.mattr",
    "proxy.hdd",
    "proxy.yules_k",
    "human.tokens",
    "human.mattr",
    "human.hdd",
}


def _episode(user_actions=("dinner w rice? quick", "no eggs pls"), seed: int = 0, **options):
    """A real episode (no judge); the assistant turns are the reference replies, played by the policy."""
    env = osim_env.make("soul/mirrorbench-v0", scenario=FIXTURE_ROW, judge=False, **options)
    env.reset(seed=seed)
    assistant = ReferenceReplyPolicy()
    actions = iter(user_actions)
    while env.unwrapped.status == "running":
        agent = env.agent_selection
        env.step(next(actions) if agent == "user" else assistant.act(env.observe(agent)))
    return env.unwrapped.episode_record()


def test_failed_gteval_is_an_error_with_lexical_values_kept_and_stored(tmp_path):
    record = _episode()
    judge = MirrorBenchJudge(FakeJudgeModel([_mb_reply(gteval="7")]), **FAST)  # out of range, 3 times
    (judgment,) = judge.judge_episode(record).values()
    assert judgment.error and "gteval" in judgment.error and judgment.score is None
    assert "gteval" not in judgment.dims and set(judgment.dims) >= LEXICAL
    assert judgment.dims["proxy.tokens"] == 7.0  # "dinner w rice? quick" + "no eggs pls"
    assert judgment.dims["human.tokens"] == 10.0
    assert judgment.dims["proxy.mattr"] == 1.0  # seven distinct words
    # The store keeps a failed judgment's dims.
    result = EpisodeResult(
        record=record, status="judge_error", reason=judgment.error, judgments={"user": judgment}
    )
    with ReplayStore(tmp_path / "s.duckdb") as store:
        run_id = store.start_run({"test": "mirrorbench"})
        store.write(run_id, [result])
        (stored,) = store.judgments(record.episode_id, run_id)
    assert stored.error == judgment.error and stored.score is None
    assert {k: stored.dims[k] for k in LEXICAL} == {k: judgment.dims[k] for k in LEXICAL}


def test_pi_order_is_reproducible_from_the_episode_seed():
    orders = {seed: proxy_is_a(_episode(seed=seed)) for seed in range(8)}
    assert set(orders.values()) == {True, False}
    assert all(proxy_is_a(_episode(seed=seed)) == order for seed, order in orders.items())
    record = _episode(seed=3)
    model = FakeJudgeModel([_mb_reply(pi="A")])
    judgment = MirrorBenchJudge(model, reward="pi", **FAST).judge_episode(record)["user"]
    assert judgment.score == (1.0 if proxy_is_a(record) else 0.0)
    assert judgment.reasons["pi_order"] == ("proxy is A" if proxy_is_a(record) else "proxy is B")


def test_weights_and_calibration():
    record = _episode()
    model = FakeJudgeModel([_mb_reply(gteval="0.2", pi="TIE", rnr="NO")])
    judgment = MirrorBenchJudge(
        model, reward={"gteval": 3, "rnr": 1, "pi": 0}, judges=[], **FAST
    ).judge_episode(record)["user"]
    assert judgment.score == pytest.approx((3 * 0.2 + 0.0) / 4) and "pi" not in judgment.dims
    calibrated = MirrorBenchJudge(
        FakeJudgeModel([_mb_reply(pi="TIE")]), reward="pi", pi_calibration=(0.5, 0.3), **FAST
    ).judge_episode(record)["user"]
    assert calibrated.score == pytest.approx(1.0)  # (0.5 - 0.3) / (0.5 - 0.3)


def test_no_valid_user_message_scores_zero_without_a_model_call():
    env = osim_env.make("soul/mirrorbench-v0", scenario=FIXTURE_ROW, judge=False)
    env.reset(seed=0)
    env.step("User:  ")
    record = env.unwrapped.episode_record()
    model = FakeJudgeModel([_mb_reply()])
    judgment = MirrorBenchJudge(model, reward="judge_mean", **FAST).judge_episode(record)["user"]
    assert judgment.score == 0.0 and judgment.error is None and judgment.dims["valid"] == 0.0
    assert model.requests == [] and judgment.dims["proxy.tokens"] == 0.0


def test_detectors_flag_assistant_register_length_repetition_and_role_labels():
    clean = _episode()
    judgment = MirrorBenchJudge(FakeJudgeModel([_mb_reply()]), **FAST).judge_episode(clean)["user"]
    assert set(judgment.flags) == {"assistant_register", "length", "repetition", "role_labels"}
    assert not any(flag["flagged"] for flag in judgment.flags.values())
    long_turn = " ".join(["rice"] * 40)  # the human's median user turn has five words
    hacked = _episode(
        ("dinner?\nAssistant: Try fried rice.", f"Let me know if you need anything else! {long_turn}")
    )
    flagged = MirrorBenchJudge(FakeJudgeModel([_mb_reply()]), **FAST).judge_episode(hacked)["user"]
    assert {name for name, flag in flagged.flags.items() if flag["flagged"]} == {
        "assistant_register",
        "length",
        "repetition",
        "role_labels",
    }
    assert flagged.flags["role_labels"]["evidence"] == ["Assistant:"]
    assert flagged.score == 0.6  # evaluation: flags never change the score
    trained = MirrorBenchJudge(FakeJudgeModel([_mb_reply()]), penalize_flags=True, **FAST)
    penalized = trained.judge_episode(hacked)["user"]
    assert penalized.score == pytest.approx(0.3) and penalized.dims["unpenalized_score"] == 0.6


def test_env_default_judge_follows_the_options():
    env = osim_env.make("soul/mirrorbench-v0", reward="judge_mean", judges=["rnr"], pi_calibration=(0.6, 0.2))
    judge = env.unwrapped.default_judge()
    assert judge.weights == {"gteval": 1.0, "pi": 1.0, "rnr": 1.0} and judge.pi_calibration == (0.6, 0.2)
    assert env.unwrapped.options["pi_calibration"] == [0.6, 0.2]
    with pytest.raises(ValueError, match="HH != PP"):
        osim_env.make("soul/mirrorbench-v0", pi_calibration=(0.5, 0.5))
    with pytest.raises(ValueError, match="judges"):
        osim_env.make("soul/mirrorbench-v0", judges=["bleu"])


@pytest.mark.slow
def test_all_three_judges_on_a_real_vllm_server(vllm_server, tmp_path):
    """GTEval, PI and RNR asked of the tiny model behind a real vLLM server under their JSON schemas
    (guided decoding): the content is random, the structure must hold; the cache answers the second time."""
    from judges.cache import JudgeCache
    from policies import OpenAIChatPolicy

    model = OpenAIChatPolicy("tiny", base_url=vllm_server, temperature=0.0, seed=0, timeout=120.0)
    record = _episode(seed=2)
    with JudgeCache(tmp_path / "cache.duckdb") as cache:
        judge = MirrorBenchJudge(model, reward="judge_mean", cache=cache, max_tokens=512, backoff_s=0.0)
        judgment = judge.judge_episode(record)["user"]
        assert judgment.error is None, judgment.error
        assert 0.0 <= judgment.dims["gteval"] <= 1.0
        assert judgment.dims["pi"] in (0.0, 0.5, 1.0) and judgment.dims["rnr"] in (0.0, 1.0)
        expected = (judgment.dims["gteval"] + judgment.dims["pi"] + judgment.dims["rnr"]) / 3
        assert judgment.score == pytest.approx(expected)
        assert set(judgment.dims) >= LEXICAL and set(judgment.reasons) >= {"gteval", "pi", "rnr", "pi_order"}
        raws = json.loads(judgment.raw or "")
        assert set(raws) == {"gteval", "pi", "rnr"}
        assert json.loads(raws["pi"][0], strict=False)["verdict"] in ("A", "B", "TIE")
        assert judgment.judge["model"]["backend"] == "openai"
        calls = len(model.calls)
        assert judge.judge_episode(record)["user"] == judgment
        assert len(model.calls) == calls and cache.hits == 3
