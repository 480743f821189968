"""The real thing: a vLLM OpenAI-compatible server and vLLM's offline engine serving the tiny model.

One server per test session (``vllm_server`` in conftest) and one offline engine per module. Both
play whole ``soul/sotopia-v0`` episodes, greedily and reproducibly, and produce JSON that validates
against the schema a judge asks for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from policies import ChatRequest, OpenAIChatPolicy, VLLMPolicy, parse_spec

pytestmark = pytest.mark.slow

PROMPTS = [
    [
        {"role": "system", "content": "You are a strict judge."},
        {"role": "user", "content": f"Rate reply {i}."},
    ]
    for i in range(6)
]


def parse_verdict(text: str) -> Verdict:
    """Validate structured output against the schema. xgrammar's JSON string rule admits raw
    control characters (a random model emits them), which strict JSON forbids; ``strict=False``
    reads them, as judges' JSON repair does."""
    return Verdict.model_validate(json.loads(text, strict=False))


class Verdict(BaseModel):
    answer: Literal["A", "B", "C", "D"]
    score: int = Field(ge=1, le=10)
    reason: str = Field(max_length=40)


def events_of(record) -> list[dict]:
    return [e.to_dict() for e in record.events]


@pytest.fixture(scope="module")
def served(vllm_server: str) -> OpenAIChatPolicy:
    return OpenAIChatPolicy("tiny", base_url=vllm_server, temperature=0.0, max_tokens=32, timeout=120)


@pytest.fixture(scope="module")
def offline(tiny_model_dir: Path) -> Iterator[VLLMPolicy]:
    from conftest import require_vllm

    require_vllm()
    policy = VLLMPolicy(tiny_model_dir, dtype="float32", max_new_tokens=32)
    yield policy
    policy.close()


def test_openai_policy_plays_sotopia_against_a_real_vllm_server(
    served: OpenAIChatPolicy, vllm_server: str, sotopia_episode, check_full_sotopia_episode
) -> None:
    served.pop_calls()
    first = sotopia_episode(served, served)
    calls = served.pop_calls()
    check_full_sotopia_episode(first, len(calls))
    assert all(c.error is None and c.prompt_tokens and c.completion_tokens for c in calls)
    assert all(0 < c.completion_tokens <= 32 for c in calls)
    # Greedy decoding on the server is reproducible: a second run (fresh policy objects) is identical.
    again = OpenAIChatPolicy("tiny", base_url=vllm_server, temperature=0.0, max_tokens=32, timeout=120)
    assert events_of(sotopia_episode(again, again)) == events_of(first)


def test_server_json_schema_output_validates(served: OpenAIChatPolicy) -> None:
    schema = Verdict.model_json_schema()
    requests = [ChatRequest(messages=m, json_schema=schema, max_tokens=64) for m in PROMPTS]
    completions = asyncio.run(served.complete_batch(requests))
    verdicts = [parse_verdict(c.text) for c in completions]
    assert len(verdicts) == len(PROMPTS)


def test_parse_spec_openai_against_the_server(vllm_server: str) -> None:
    policy = parse_spec(f"openai:tiny@{vllm_server}?temperature=0&max_tokens=8")
    assert isinstance(policy, OpenAIChatPolicy)
    assert policy.base_url == vllm_server and policy.sampling == {"temperature": 0, "max_tokens": 8}
    [call_text] = asyncio.run(policy.act_batch([{"messages": PROMPTS[0]}]))
    [call] = policy.pop_calls()
    assert isinstance(call_text, str) and 0 < call.completion_tokens <= 8


def test_vllm_policy_plays_the_same_episode_offline(
    offline: VLLMPolicy, served: OpenAIChatPolicy, sotopia_episode, check_full_sotopia_episode
) -> None:
    offline.pop_calls()
    first = sotopia_episode(offline, offline)
    check_full_sotopia_episode(first, len(offline.pop_calls()))
    second = sotopia_episode(offline, offline)
    assert events_of(second) == events_of(first)
    # The offline engine and the server run the same greedy decoding on the same weights.
    assert events_of(sotopia_episode(served, served)) == events_of(first)


def test_vllm_policy_batches_and_counts_tokens(offline: VLLMPolicy) -> None:
    forced = offline.sharing(max_new_tokens=12, min_new_tokens=12)
    completions = asyncio.run(forced.complete_batch([ChatRequest(messages=m) for m in PROMPTS]))
    assert [c.completion_tokens for c in completions] == [12] * len(PROMPTS)
    for m, c in zip(PROMPTS, completions):
        prompt = offline.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=True)
        assert c.prompt_tokens == len(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
    calls = forced.pop_calls()
    assert len(calls) == len(PROMPTS) and calls[0].spec["backend"] == "vllm"
    assert calls[0].spec["sampling"]["min_new_tokens"] == 12


def test_vllm_policy_json_schema_output_validates(offline: VLLMPolicy) -> None:
    schema = Verdict.model_json_schema()
    requests = [ChatRequest(messages=m, json_schema=schema, max_tokens=64) for m in PROMPTS]
    requests.append(ChatRequest(messages=PROMPTS[0]))  # free text in the same batch
    completions = asyncio.run(offline.complete_batch(requests))
    for c in completions[:-1]:
        parse_verdict(c.text)
    assert completions[-1].text == offline.act({"messages": PROMPTS[0]})


def test_vllm_sampling_is_seeded(offline: VLLMPolicy) -> None:
    def sample(seed: int) -> list[str]:
        policy = offline.sharing(temperature=1.0, seed=seed, max_new_tokens=16)
        return asyncio.run(policy.act_batch([{"messages": m} for m in PROMPTS]))

    a, b, c = sample(3), sample(3), sample(4)
    assert a == b
    assert a != c
    assert a != asyncio.run(offline.sharing(max_new_tokens=16).act_batch([{"messages": m} for m in PROMPTS]))


LONG_PROMPT = [{"role": "user", "content": "Could you help me move the boxes into the blue crate? " * 900}]


def test_vllm_policy_refuses_a_prompt_beyond_the_context(offline: VLLMPolicy) -> None:
    from policies import BatchPolicyError
    from policies.base import ContextLengthError

    n = offline.prompt_tokens(ChatRequest(messages=LONG_PROMPT))
    assert offline.context_tokens is not None and n > offline.context_tokens
    with pytest.raises(BatchPolicyError) as info:
        asyncio.run(
            offline.complete_batch([ChatRequest(messages=PROMPTS[0]), ChatRequest(messages=LONG_PROMPT)])
        )
    [(index, error)] = info.value.failures.items()
    assert index == 1 and isinstance(error, ContextLengthError)
    assert f"{n:,} tokens" in str(error) and f"{offline.context_tokens:,} tokens" in str(error)
    assert info.value.completions[0] is not None
    offline.pop_calls()


def test_vllm_policy_reports_a_cut_output(offline: VLLMPolicy) -> None:
    forced = offline.sharing(max_new_tokens=6, min_new_tokens=6)
    assert forced.complete(ChatRequest(messages=PROMPTS[0])).finish_reason == "length"
