"""The Sotopia judge for real: the tiny model behind a real vLLM server, decoded under the judge's JSON
schema (guided decoding). The tiny model's content is random; the structure must hold."""

from __future__ import annotations

import json

import pytest
from judges_fakes import sotopia_episode

from judges.cache import JudgeCache
from scenarios.sotopia.judge import RANGES, SotopiaJudge, dimension_schema

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def judge_model(vllm_server):
    from policies import OpenAIChatPolicy

    return OpenAIChatPolicy("tiny", base_url=vllm_server, temperature=0.0, seed=0, timeout=120.0)


def test_sotopia_judge_guided_json_validates(judge_model, tmp_path):
    episode = sotopia_episode()
    with JudgeCache(tmp_path / "judge_cache.duckdb") as cache:
        judge = SotopiaJudge(judge_model, cache=cache, reasoning_max_chars=48, max_tokens=1024, backoff_s=0.0)
        calls_before = len(judge_model.calls)
        first = judge.judge_episode(episode)["agent1"]
        assert first.error is None, first.error
        assert 0.0 <= (first.score or -1) <= 1.0
        # Strict JSON except for raw control characters inside strings, which xgrammar lets through.
        answer = dimension_schema(48).model_validate(json.loads(first.raw or "", strict=False))
        for dim, (lo, hi) in RANGES.items():
            assert lo <= getattr(answer, dim).score <= hi
            assert first.dims[dim] == getattr(answer, dim).score
        assert first.dims["paper_scale"] == pytest.approx(first.dims["raw_mean"] / 10)
        assert first.judge["model"]["backend"] == "openai"
        # The same episode again: served from the DuckDB cache, no model call.
        second = judge.judge_episode(episode)["agent1"]
        assert len(judge_model.calls) - calls_before == 1
        assert second == first
        assert (cache.hits, cache.misses) == (1, 1)


def test_env_default_judge_with_the_tiny_model(tiny_model_dir):
    """The plain env loop: soul/sotopia-v0's default judge (the tiny HF model, xgrammar-guided) scores
    the episode at termination."""
    import osim_env

    env = osim_env.make("soul/sotopia-v0", scenario=0, max_turns=2, judge_model="tiny")
    env.reset(seed=0)
    env.step('{"action_type": "speak", "argument": "This record player is 150 euros."}')
    env.step('{"action_type": "speak", "argument": "Would you take 100?"}')
    raw = env.unwrapped
    assert raw.status == "ok", raw.judgments
    judgment = raw.judgments["agent1"]
    assert judgment.error is None and 0.0 <= judgment.score <= 1.0
    assert set(RANGES) <= set(judgment.dims)
    task_judge = judgment.judge["components"]["task"]["judge"]  # the default reward: judge + detectors
    assert task_judge["model"]["backend"] == "hf" and "hack_auditor" in judgment.judge["model_detectors"]
    assert env.infos["agent1"]["score"] == judgment.score
