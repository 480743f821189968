"""HFPolicy on the tiny model: true batching, token accounting, seeded sampling, structured output,
and a whole Sotopia episode played offline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from policies import ChatRequest, HFPolicy

OBSERVATIONS = [
    {"messages": [{"role": "system", "content": "You are Greta."}, {"role": "user", "content": "Hello!"}]},
    {"messages": [{"role": "user", "content": "hi"}]},
    {
        "messages": [
            {"role": "system", "content": "Answer with one letter."},
            {"role": "user", "content": "Where is the ball? (a) box (b) basket (c) drawer (d) bag"},
            {"role": "assistant", "content": "<answer>B</answer>"},
            {"role": "user", "content": "Are you sure? Think again about what Anna saw before she left."},
        ]
    },
]


def parse_verdict(text: str) -> Verdict:
    """Validate structured output against the schema. xgrammar's JSON string rule admits raw
    control characters (a random model emits them), which strict JSON forbids; ``strict=False``
    reads them, as judges' JSON repair does."""
    return Verdict.model_validate(json.loads(text, strict=False))


class Verdict(BaseModel):
    answer: Literal["A", "B", "C", "D"]
    score: int = Field(ge=1, le=10)


@pytest.fixture(scope="module")
def hf(tiny_model_dir: Path) -> HFPolicy:
    return HFPolicy(tiny_model_dir, max_new_tokens=24)


def test_act_batch_is_one_generate_call_and_matches_sequential_acts(hf: HFPolicy) -> None:
    generate = hf.model.generate
    calls: list[int] = []

    def counting_generate(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return generate(*args, **kwargs)

    hf.model.generate = counting_generate
    try:
        batched = asyncio.run(hf.act_batch(OBSERVATIONS))
        assert calls == [len(OBSERVATIONS)]
        sequential = [hf.act(o) for o in OBSERVATIONS]
    finally:
        del hf.model.generate
    assert calls == [3, 1, 1, 1]
    # Left padding with correct positions: padding does not change greedy text.
    assert batched == sequential
    assert all(isinstance(a, str) and a for a in batched)


def test_token_counts_and_call_records(hf: HFPolicy, tiny_model_dir: Path) -> None:
    hf.pop_calls()
    completions = asyncio.run(
        hf.complete_batch([ChatRequest(messages=o["messages"], max_tokens=5) for o in OBSERVATIONS])
    )
    for obs, c in zip(OBSERVATIONS, completions):
        prompt = hf.tokenizer.apply_chat_template(obs["messages"], add_generation_prompt=True, tokenize=True)
        assert c.prompt_tokens == len(prompt["input_ids"])
        assert 1 <= c.completion_tokens <= 5
    calls = hf.pop_calls()
    assert [(k.prompt_tokens, k.completion_tokens) for k in calls] == [
        (c.prompt_tokens, c.completion_tokens) for c in completions
    ]
    assert calls[0].spec["backend"] == "hf" and calls[0].spec["model"] == str(tiny_model_dir)
    assert all(k.latency_s is not None and k.latency_s > 0 and k.error is None for k in calls)


def test_min_new_tokens_forces_the_full_budget(tiny_model_dir: Path) -> None:
    forced = HFPolicy(tiny_model_dir, max_new_tokens=16, min_new_tokens=16)
    completions = asyncio.run(
        forced.complete_batch([ChatRequest(messages=o["messages"]) for o in OBSERVATIONS])
    )
    assert [c.completion_tokens for c in completions] == [16, 16, 16]


def test_greedy_is_deterministic_across_policy_instances(tiny_model_dir: Path) -> None:
    first = asyncio.run(HFPolicy(tiny_model_dir, max_new_tokens=24).act_batch(OBSERVATIONS))
    second = asyncio.run(HFPolicy(tiny_model_dir, max_new_tokens=24).act_batch(OBSERVATIONS))
    assert first == second


def test_sampling_is_seeded(tiny_model_dir: Path) -> None:
    def sample(seed: int) -> list[str]:
        policy = HFPolicy(tiny_model_dir, max_new_tokens=24, temperature=1.0, top_p=0.95, seed=seed)
        return asyncio.run(policy.act_batch(OBSERVATIONS)) + asyncio.run(policy.act_batch(OBSERVATIONS))

    a, b, c = sample(5), sample(5), sample(6)
    assert a == b
    assert a != c
    assert a[:3] != a[3:]  # successive calls draw fresh samples
    greedy = asyncio.run(HFPolicy(tiny_model_dir, max_new_tokens=24).act_batch(OBSERVATIONS))
    assert a[:3] != greedy


def test_json_schema_output_validates(hf: HFPolicy) -> None:
    pytest.importorskip("xgrammar", reason="HFPolicy's structured output uses xgrammar")
    schema = Verdict.model_json_schema()
    requests = [ChatRequest(messages=o["messages"], json_schema=schema, max_tokens=48) for o in OBSERVATIONS]
    requests.append(
        ChatRequest(messages=OBSERVATIONS[0]["messages"])
    )  # a free-text request in the same batch
    completions = asyncio.run(hf.complete_batch(requests))
    for c in completions[:3]:
        parse_verdict(c.text)
    assert completions[3].text == hf.act(OBSERVATIONS[0])


def test_thinking_is_stripped_and_kept(tiny_model_dir: Path) -> None:
    """A reasoning model's <think> block leaves the action and stays in the raw text."""
    from policies.base import Completion

    class ThinkingHF(HFPolicy):
        def generate_batch(self, requests, json_schema=None):
            return [
                Completion(text=f"<think>plan {i}</think>{c.text}", raw=f"<think>plan {i}</think>{c.raw}")
                for i, c in enumerate(super().generate_batch(requests, json_schema))
            ]

    policy = ThinkingHF(tiny_model_dir, max_new_tokens=8)
    [c] = asyncio.run(policy.complete_batch([ChatRequest(messages=OBSERVATIONS[0]["messages"])]))
    assert c.thinking == "plan 0"
    assert "<think>" not in c.text and c.raw.startswith("<think>plan 0</think>")
    assert c.text == c.raw.removeprefix("<think>plan 0</think>").strip()


def test_hf_policy_plays_a_full_sotopia_episode_deterministically(
    tiny_model_dir: Path, sotopia_episode, check_full_sotopia_episode
) -> None:
    records = []
    for _ in range(2):
        policy = HFPolicy(tiny_model_dir, max_new_tokens=32)
        records.append(sotopia_episode(policy, policy))
        check_full_sotopia_episode(records[-1], len(policy.pop_calls()))
    first, second = ([e.to_dict() for e in r.events] for r in records)
    assert first == second
    assert records[0].termination == "max_turns (20) reached"


def _next_turn(observation: dict, reply: str, i: int) -> dict:
    """The conversation one turn later: the policy's reply and a new user message appended."""
    messages = [*observation["messages"], {"role": "assistant", "content": reply}]
    return {"messages": [*messages, {"role": "user", "content": f"And then? ({i})"}]}


def test_prefix_cache_reuses_earlier_turns_and_keeps_greedy_text(tiny_model_dir: Path) -> None:
    cached = HFPolicy(tiny_model_dir, max_new_tokens=16)
    plain = HFPolicy(tiny_model_dir, max_new_tokens=16, prefix_cache_mb=0)
    assert cached.prefix_cache is not None and plain.prefix_cache is None
    turns = [OBSERVATIONS]
    for i in range(2):
        replies = asyncio.run(cached.act_batch(turns[-1]))
        assert replies == asyncio.run(plain.act_batch(turns[-1]))
        turns.append([_next_turn(o, r, i) for o, r in zip(turns[-1], replies)])
    # A batch mixing a new conversation (a miss) with continued ones (hits): mid-row padding.
    mixed = [*turns[-1], {"messages": [{"role": "user", "content": "A new conversation starts here."}]}]
    before = cached.prefix_cache.hit_tokens
    requests = [ChatRequest(messages=o["messages"]) for o in mixed]
    got = asyncio.run(cached.complete_batch(requests))
    want = asyncio.run(plain.complete_batch(requests))
    assert [c.text for c in got] == [c.text for c in want]
    assert [c.prompt_tokens for c in got] == [c.prompt_tokens for c in want]
    assert [c.completion_tokens for c in got] == [c.completion_tokens for c in want]
    # Every continued conversation re-read at least its previous prompt from the cache.
    previous = [
        len(cached.tokenizer.apply_chat_template(o["messages"], add_generation_prompt=True)["input_ids"])
        for o in turns[-2]
    ]
    assert cached.prefix_cache.hit_tokens - before >= sum(previous) - 3 * len(previous)
    assert 0 < cached.prefix_cache.hit_rate < 1


def test_repeated_prompts_in_a_batch_are_prefilled_once(tiny_model_dir: Path) -> None:
    cached = HFPolicy(tiny_model_dir, max_new_tokens=12)
    plain = HFPolicy(tiny_model_dir, max_new_tokens=12, prefix_cache_mb=0)
    batch = [OBSERVATIONS[2], OBSERVATIONS[0], OBSERVATIONS[2], OBSERVATIONS[2]]
    got = asyncio.run(cached.act_batch(batch))
    assert got == asyncio.run(plain.act_batch(batch))
    assert got[0] == got[2] == got[3]
    n = len(
        cached.tokenizer.apply_chat_template(OBSERVATIONS[2]["messages"], add_generation_prompt=True)[
            "input_ids"
        ]
    )
    # Three rows read n - 1 tokens each from the cache; n of those were computed once for them.
    assert cached.prefix_cache.hit_tokens == 3 * (n - 1) - n


def test_prefix_cache_lookup_replacement_and_byte_budget() -> None:
    import numpy as np
    import torch

    from policies.hf import PrefixKVCache

    def kv(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.arange(n * 2, dtype=torch.float32).view(1, n, 2), torch.zeros(1, n, 2))]

    per_token = 2 * 2 * 4  # keys and values, 2 floats each
    cache = PrefixKVCache(max_bytes=100 * per_token)
    first = np.arange(40)
    cache.insert(first, kv(40))
    entry, common = cache.lookup(np.concatenate([np.arange(30), [999, 998]]))
    assert entry is not None and common == 30
    assert cache.lookup(np.arange(100, 140)) == (None, 0)  # a different first block: another bucket
    # A longer sequence replaces the one it extends; a prefix of a cached sequence adds nothing.
    cache.insert(np.arange(50), kv(50))
    assert len(cache) == 1 and cache.nbytes == 50 * per_token
    cache.insert(np.arange(45), kv(45))
    assert len(cache) == 1 and cache.covers(np.arange(45))
    # Past the budget the least recently used sequence goes.
    other = np.arange(200, 240)
    cache.insert(other, kv(40))
    cache.lookup(np.arange(50))  # touch the first one
    cache.insert(np.arange(300, 340), kv(40))
    assert cache.nbytes <= 100 * per_token
    assert cache.covers(np.arange(50)) and not cache.covers(other)
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0 and cache.hit_rate == 0.0
