"""Local policies refuse a prompt longer than the model's context, as an API server does, and a judge
records the refusal as its error; an output cut at the budget or the context end says so.

HFPolicy on the tiny model (context 8,192 tokens); VLLMPolicy is checked in test_policies_vllm.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from judges_fakes import sotopia_episode

from policies import BatchPolicyError, ChatRequest, HFPolicy
from policies.base import ContextLengthError
from policies.tiny import MAX_POSITIONS
from scenarios.sotopia.judge import SotopiaJudge

LONG = "Could you help me move the boxes into the blue crate before the guests arrive? " * 600


@pytest.fixture(scope="module")
def hf(tiny_model_dir: Path) -> HFPolicy:
    return HFPolicy(tiny_model_dir, max_new_tokens=8)


def request(text: str) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}])


def test_a_prompt_beyond_the_context_is_refused_with_both_lengths(hf: HFPolicy) -> None:
    n = hf.prompt_tokens(request(LONG))
    assert hf.context_tokens == MAX_POSITIONS < n
    with pytest.raises(ContextLengthError) as info:
        hf.complete(request(LONG))
    assert (info.value.prompt_tokens, info.value.context_tokens) == (n, MAX_POSITIONS)
    assert f"{n:,} tokens" in str(info.value) and f"{MAX_POSITIONS:,} tokens" in str(info.value)
    [call] = hf.pop_calls()
    assert call.error is not None and "context" in call.error


def test_only_the_requests_that_do_not_fit_fail_in_a_batch(hf: HFPolicy) -> None:
    with pytest.raises(BatchPolicyError) as info:
        asyncio.run(hf.complete_batch([request("hi"), request(LONG), request("Hello!")]))
    assert sorted(info.value.failures) == [1]
    assert isinstance(info.value.failures[1], ContextLengthError)
    assert [c is not None for c in info.value.completions] == [True, False, True]
    hf.pop_calls()


def test_generation_stops_at_the_end_of_the_context(tiny_model_dir: Path) -> None:
    forced = HFPolicy(tiny_model_dir, max_new_tokens=64, min_new_tokens=64, prefix_cache_mb=0)
    words = "Hello, how are you today? "
    text = words * 10
    while forced.prompt_tokens(request(text + words)) < MAX_POSITIONS - 5:
        text += words * max(1, (MAX_POSITIONS - 5 - forced.prompt_tokens(request(text))) // 16)
    room = MAX_POSITIONS - forced.prompt_tokens(request(text))
    assert 0 < room < 64
    completion = forced.complete(request(text))
    assert completion.completion_tokens == room
    assert completion.finish_reason == "length"


def test_finish_reason_says_whether_the_budget_cut_the_output(tiny_model_dir: Path) -> None:
    forced = HFPolicy(tiny_model_dir, max_new_tokens=6, min_new_tokens=6)
    cut = forced.complete(request("hi"))
    assert (cut.completion_tokens, cut.finish_reason) == (6, "length")
    free = HFPolicy(tiny_model_dir, max_new_tokens=4096)
    done = free.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}], json_schema=VERDICT))
    assert done.finish_reason == "stop"


VERDICT = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 9}},
    "required": ["score"],
    "additionalProperties": False,
}


def test_the_judge_records_a_too_long_episode_as_an_error(hf: HFPolicy) -> None:
    speech = json.dumps({"action_type": "speak", "argument": LONG[:15000]})  # within the action limit
    record = sotopia_episode([speech] * 4)
    judgment = SotopiaJudge(hf, backoff_s=0.0).judge_episode(record)["agent1"]
    assert judgment.score is None
    assert "no room for an answer in the model's context of 8,192 tokens" in (judgment.error or "")
    assert "after" not in (judgment.error or "")  # refused once, not retried


def test_the_judge_records_a_cut_output_as_an_error(tiny_model_dir: Path) -> None:
    model = HFPolicy(tiny_model_dir, min_new_tokens=16)
    judgment = SotopiaJudge(model, max_tokens=16, backoff_s=0.0).judge_episode(sotopia_episode())["agent1"]
    assert judgment.score is None
    assert judgment.error == "agent1: judge output cut at 16 tokens"
