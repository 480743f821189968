"""LLM-judge machinery with the Sotopia judge: parsing, retries, faults, samples, cache."""

from __future__ import annotations

import asyncio
import json

import pytest
from judges_fakes import GOOD_SCORES, FakeJudgeModel, policy_error, sotopia_answer, sotopia_episode

from judges.cache import JudgeCache
from judges.parsing import ParseError, extract_json_object, parse_answer
from scenarios.sotopia.judge import (
    RANGES,
    SotopiaJudge,
    default_judge,
    dimension_schema,
    normalized,
    score_dims,
)

FAST = {"backoff_s": 0.0}


# -- formula ---------------------------------------------------------------------------------------
def test_sotopia_normalization_by_hand():
    # (8-0)/10=.8, (1+5)/10=.6, 5/10=.5, (0+10)/10=1, (-2+10)/10=.8, (0+5)/10=.5, 7/10=.7 -> 4.9/7 = 0.7
    assert normalized(GOOD_SCORES) == pytest.approx(0.7)
    dims = score_dims(GOOD_SCORES)
    assert dims["raw_mean"] == pytest.approx(19 / 7)
    assert dims["paper_scale"] == pytest.approx(19 / 70)
    assert dims["goal"] == 7.0
    lows = {d: lo for d, (lo, _) in RANGES.items()}
    highs = {d: hi for d, (_, hi) in RANGES.items()}
    assert normalized(lows) == 0.0
    assert normalized(highs) == 1.0
    with pytest.raises(ValueError, match="missing"):
        normalized({"goal": 3})


# -- parsing ---------------------------------------------------------------------------------------
def test_parsing_tolerates_fences_trailing_text_and_near_valid_json():
    assert extract_json_object('```json\n{"a": 1}\n```\nHope that helps.') == {"a": 1}
    assert extract_json_object('Here: {"a": {"b": 2}} and then {"c": 3}') == {"a": {"b": 2}}
    assert extract_json_object("{'a': 1, 'b': [1, 2,],}") == {"a": 1, "b": [1, 2]}
    assert extract_json_object('```\n{"a": {"b": 1},}\n```') == {"a": {"b": 1}}
    with pytest.raises(ParseError, match="no JSON object"):
        extract_json_object("I think the character did well, 7/10.")


def test_schema_range_check_is_a_parse_failure():
    schema = dimension_schema()
    ok = parse_answer(sotopia_answer(GOOD_SCORES), schema)
    assert ok.goal.score == 7
    with pytest.raises(ParseError, match=r"goal\.score"):
        parse_answer(sotopia_answer({**GOOD_SCORES, "goal": 11}), schema)
    with pytest.raises(ParseError, match="secret"):
        parse_answer(sotopia_answer({k: v for k, v in GOOD_SCORES.items() if k != "secret"}), schema)
    with pytest.raises(ParseError):
        parse_answer(sotopia_answer({**GOOD_SCORES, "believability": 7.5}), schema)  # type: ignore[dict-item]


# -- the judge -------------------------------------------------------------------------------------
def test_sotopia_judge_scores_policy_agent_with_structured_request():
    model = FakeJudgeModel(["Sure!\n```json\n" + sotopia_answer(GOOD_SCORES) + "\n```"])
    episode = sotopia_episode()
    judgments = SotopiaJudge(model, **FAST).judge_episode(episode)
    assert set(judgments) == {"agent1"}
    j = judgments["agent1"]
    assert j.error is None
    assert j.score == pytest.approx(0.7)
    assert j.dims["social_rules"] == -2.0 and j.dims["paper_scale"] == pytest.approx(19 / 70)
    assert j.reasons["goal"] == "because goal"
    assert j.judge["kind"] == "sotopia" and j.judge["model"]["backend"] == "fake"
    (request,) = model.requests
    assert request.json_schema == dimension_schema().model_json_schema()
    prompt = request.messages[-1]["content"]
    # The judge sees both goals and the transcript in the characters' own words.
    assert "Sell the record player" in prompt and "Buy the record player" in prompt
    assert 'Greta Moll said: "Hello! This record player is 150 euros."' in prompt
    assert "Sami Okafor left the conversation" in prompt


def test_judge_both_scores_both_agents():
    model = FakeJudgeModel([sotopia_answer(GOOD_SCORES)])
    judgments = SotopiaJudge(model, judge_both=True, **FAST).judge_episode(sotopia_episode())
    assert set(judgments) == {"agent1", "agent2"}
    assert len(model.requests) == 2
    assert "Evaluate Sami Okafor" in model.requests[1].messages[-1]["content"]


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        ("The character was believable. Score: 8.", "no JSON object"),
        (sotopia_answer({**GOOD_SCORES, "relationship": 9}), "relationship.score"),
        (sotopia_answer({k: v for k, v in GOOD_SCORES.items() if k != "goal"}), "goal"),
        (policy_error(), "judge call failed: PolicyError: HTTP 429"),
        # json.dumps writes the lone surrogate as a "\ud83d" escape; a reason holding it cannot be stored
        (sotopia_answer(GOOD_SCORES, reasoning="fine \ud83d"), "half of a surrogate pair"),
    ],
    ids=["invalid-json", "out-of-range", "missing-dimension", "call-failure", "not-unicode-text"],
)
def test_faults_give_error_and_no_score(reply, needle):
    model = FakeJudgeModel([reply])
    j = SotopiaJudge(model, **FAST).judge_episode(sotopia_episode())["agent1"]
    assert j.score is None
    assert needle in (j.error or "")
    assert "after 3 attempts" in (j.error or "")
    assert len(model.requests) == 3  # three attempts, then the error


def test_timeout_gives_error():
    model = FakeJudgeModel([5.0])
    j = SotopiaJudge(model, timeout_s=0.05, attempts=2, **FAST).judge_episode(sotopia_episode())["agent1"]
    assert j.score is None and "timed out after 0.05s" in (j.error or "")


def test_retry_recovers_after_invalid_output():
    model = FakeJudgeModel(["not json", "{'believability': oops", sotopia_answer(GOOD_SCORES)])
    j = SotopiaJudge(model, **FAST).judge_episode(sotopia_episode())["agent1"]
    assert j.error is None and j.score == pytest.approx(0.7)
    assert len(model.requests) == 3


def test_near_valid_json_is_repaired():
    broken = sotopia_answer(GOOD_SCORES).replace('"', "'")[:-1] + ",}"
    j = SotopiaJudge(FakeJudgeModel([broken]), **FAST).judge_episode(sotopia_episode())["agent1"]
    assert j.error is None and j.score == pytest.approx(0.7)


def test_self_consistency_averages_samples_and_records_disagreement():
    low = {**GOOD_SCORES, "goal": 3}  # 0.7 - 0.4/7
    model = FakeJudgeModel([sotopia_answer(GOOD_SCORES), sotopia_answer(low)])
    j = SotopiaJudge(model, samples=2, **FAST).judge_episode(sotopia_episode())["agent1"]
    assert j.score == pytest.approx((0.7 + 0.7 - 0.4 / 7) / 2)
    assert j.dims["goal"] == pytest.approx(5.0)
    assert j.dims["sample_std"] == pytest.approx(0.2 / 7)
    assert j.dims["samples"] == 2.0
    assert len(json.loads(j.raw or "{}")["agent1"]) == 2


def test_any_failed_sample_fails_the_judgment():
    model = FakeJudgeModel([sotopia_answer(GOOD_SCORES), "nonsense", "nonsense", "nonsense"])
    j = SotopiaJudge(model, samples=2, **FAST).judge_episode(sotopia_episode())["agent1"]
    assert j.score is None and j.error


def test_batch_judges_many_episodes_in_one_call():
    model = FakeJudgeModel([sotopia_answer(GOOD_SCORES)])
    judge = SotopiaJudge(model, **FAST)
    episodes = [sotopia_episode(), sotopia_episode(self_play=True)]
    results = asyncio.run(judge.judge_batch(episodes))
    assert [set(r) for r in results] == [{"agent1"}, {"agent1", "agent2"}]
    assert len(model.calls) == 3  # one batched call of three requests


# -- cache -----------------------------------------------------------------------------------------
def test_cache_second_judgment_makes_no_model_call(tmp_path):
    path = tmp_path / "judge_cache.duckdb"
    model = FakeJudgeModel([sotopia_answer(GOOD_SCORES)])
    episode = sotopia_episode()
    with JudgeCache(path) as cache:
        judge = SotopiaJudge(model, cache=cache, **FAST)
        first = judge.judge_episode(episode)["agent1"]
        second = judge.judge_episode(episode)["agent1"]
        assert len(model.calls) == 1
        assert (cache.hits, cache.misses) == (1, 1)
        assert first == second
    # The entry is in the DuckDB file: a fresh cache (and a fresh judge object) hits it too.
    with JudgeCache(path) as cache:
        assert len(cache) == 1
        model2 = FakeJudgeModel(["never used"])
        again = SotopiaJudge(model2, cache=cache, **FAST).judge_episode(episode)["agent1"]
        assert again.score == first.score and model2.calls == []
        assert cache.hits == 1


def test_cache_does_not_store_failures_and_keys_on_transcript(tmp_path):
    model = FakeJudgeModel(["garbage"] * 3 + [sotopia_answer(GOOD_SCORES)])
    with JudgeCache(tmp_path / "c.duckdb") as cache:
        judge = SotopiaJudge(model, cache=cache, attempts=3, **FAST)
        assert judge.judge_episode(sotopia_episode())["agent1"].error
        assert judge.judge_episode(sotopia_episode())["agent1"].score == pytest.approx(0.7)
        other = sotopia_episode(
            [
                '{"action_type": "speak", "argument": "Hi."}',
                '{"action_type": "leave", "argument": ""}',
            ]
        )
        judge.judge_episode(other)
        assert cache.misses == 3 and cache.hits == 0


def test_cache_writes_through_arrow_in_batches(tmp_path):
    import duckdb

    path = tmp_path / "c.duckdb"
    cache = JudgeCache(path, flush_every=1000)
    model = FakeJudgeModel([sotopia_answer(GOOD_SCORES)])
    judge = SotopiaJudge(model, cache=cache, **FAST)
    asyncio.run(judge.judge_batch([sotopia_episode(self_play=True), sotopia_episode()]))
    assert len(model.calls) == 3
    assert cache.flush() == 2  # agent1 of both episodes share one prompt; one insert of two rows
    cache.close()
    with duckdb.connect(str(path)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM judge_cache").fetchone()
    assert count == 2


def test_default_judge_resolves_lazily_and_reads_judge_both():
    reward = default_judge("fake:not-resolved-yet", judge_both=True)  # the judge with its detectors
    (judge, _), auditor = reward.components["task"], reward.model_detectors[0]
    assert isinstance(judge, SotopiaJudge) and judge.judge_both
    assert judge._model is None and auditor._model is None  # nothing loaded until the first judgment
    model = FakeJudgeModel([sotopia_answer(GOOD_SCORES)])
    assert default_judge(model, detectors=False).model is model


def test_raw_control_characters_in_strings_are_accepted():
    # Grammar-guided decoding lets raw control characters into JSON strings (seen with the tiny model).
    text = sotopia_answer(GOOD_SCORES, reasoning="line\x01break")
    text = text.replace("\\u0001", "\x01")
    assert "\x01" in text
    assert parse_answer(text, dimension_schema()).goal.reasoning == "line\x01break goal"


class FakePartialBatchModel(FakeJudgeModel):
    """Fails the second request of its first batch (a BatchPolicyError), then answers everything."""

    async def _complete_batch(self, requests):
        from policies.base import BatchPolicyError, Completion

        first_batch = not self.requests
        self.requests.extend(requests)
        text = sotopia_answer(GOOD_SCORES)
        if first_batch and len(requests) > 1:
            completions = [Completion(text=text, raw=text), None]
            raise BatchPolicyError("1 of 2 failed", failures={1: policy_error()}, completions=completions)
        return [Completion(text=text, raw=text) for _ in requests]


def test_partial_batch_failure_retries_only_the_failed_request():
    model = FakePartialBatchModel([])
    judgments = SotopiaJudge(model, judge_both=True, **FAST).judge_episode(sotopia_episode())
    assert all(j.error is None for j in judgments.values())
    assert len(model.requests) == 3  # two in the first batch, the failed one again


# -- issue 19: judges that fail only for real reasons ---------------------------------------------
class CutJudgeModel(FakeJudgeModel):
    """A fake judge model whose every output stops at the token budget (``finish_reason="length"``)."""

    async def _complete_batch(self, requests):
        out = await super()._complete_batch(requests)
        return [
            c.model_copy(update={"finish_reason": "length", "completion_tokens": r.max_tokens})
            for c, r in zip(out, requests)
        ]


def test_long_reasoning_is_a_valid_answer():
    long = "The seller kept to the price, explained the condition and offered a demo. " * 40  # 3,000 chars
    model = FakeJudgeModel([sotopia_answer(GOOD_SCORES, reasoning=long)])
    j = SotopiaJudge(model, **FAST).judge_episode(sotopia_episode())["agent1"]
    assert j.error is None and j.score == pytest.approx(0.7)
    assert len(j.reasons["knowledge"]) > 1000
    assert len(model.requests) == 1


def test_an_output_cut_at_the_budget_is_its_own_error_never_repaired_or_retried():
    # The cut text would be repaired into a valid answer by the tolerant parser: it must not be.
    cut = sotopia_answer(GOOD_SCORES)[:-1]
    model = CutJudgeModel([cut])
    j = SotopiaJudge(model, max_tokens=300, **FAST).judge_episode(sotopia_episode())["agent1"]
    assert j.score is None
    assert j.error == "agent1: judge output cut at 300 tokens"
    assert len(model.requests) == 1


def test_output_budget_is_per_judge_and_leaves_room_for_reasoning_models():
    from judges.llm import DEFAULT_MAX_TOKENS

    model = FakeJudgeModel([sotopia_answer(GOOD_SCORES)])
    SotopiaJudge(model, **FAST).judge_episode(sotopia_episode())
    SotopiaJudge(model, max_tokens=700, **FAST).judge_episode(sotopia_episode())
    assert [r.max_tokens for r in model.requests] == [DEFAULT_MAX_TOKENS, 700]
    assert DEFAULT_MAX_TOKENS >= 16384  # hidden reasoning counts against max_completion_tokens


def test_a_prompt_beyond_the_context_is_an_error_at_once():
    from policies.base import ContextLengthError

    model = FakeJudgeModel([ContextLengthError(193_810, 8_192)])
    j = SotopiaJudge(model, **FAST).judge_episode(sotopia_episode())["agent1"]
    assert j.score is None
    assert "193,810 tokens" in (j.error or "") and "8,192 tokens" in (j.error or "")
    assert len(model.requests) == 1  # the same prompt never fits: no retry


@pytest.fixture
def sleeps(monkeypatch):
    """Records the backoff waits of the judge caller instead of sleeping."""
    waits: list[float] = []

    async def fake_sleep(seconds, result=None):
        waits.append(seconds)
        return result

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    return waits


def test_invalid_answers_are_retried_at_once_without_backoff(sleeps):
    replies = ["not json", sotopia_answer({**GOOD_SCORES, "goal": 99}), sotopia_answer(GOOD_SCORES)]
    model = FakeJudgeModel(replies)
    j = SotopiaJudge(model, backoff_s=5.0).judge_episode(sotopia_episode())["agent1"]
    assert j.error is None and len(model.requests) == 3
    assert sleeps == []


def test_failed_calls_are_retried_after_backoff(sleeps):
    model = FakeJudgeModel([policy_error(), policy_error(), sotopia_answer(GOOD_SCORES)])
    j = SotopiaJudge(model, backoff_s=0.5).judge_episode(sotopia_episode())["agent1"]
    assert j.error is None and len(model.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_judges_given_one_spec_share_one_model():
    from judges.hack_auditor import HackAuditor

    judge, auditor = SotopiaJudge("random:3"), HackAuditor("random:3")
    assert judge.model is auditor.model  # a task judge and its auditor load one local model once
    assert SotopiaJudge("random:4").model is not judge.model
