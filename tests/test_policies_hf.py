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


def _recording_generate(policy: HFPolicy, calls: list[dict]) -> None:
    """Make ``policy.model.generate`` record in ``calls`` its keyword arguments, its output and how
    many KV columns its cache held before it ran (the prefixes reused from the prefix cache)."""
    generate = policy.model.generate

    def recording(*args, **kwargs):
        cache = kwargs.get("past_key_values")
        cached_columns = 0 if cache is None else cache.get_seq_length()
        output = generate(*args, **kwargs)
        calls.append({**kwargs, "output": output, "cached_columns": cached_columns})
        return output

    policy.model.generate = recording


def test_single_shot_with_nothing_cached_is_plain_generate_on_the_left_padded_batch(
    tiny_model_dir: Path,
) -> None:
    import torch

    policy = HFPolicy(tiny_model_dir, max_new_tokens=24)
    assert policy.prefix_cache is not None and len(policy.prefix_cache) == 0
    calls: list[dict] = []
    _recording_generate(policy, calls)
    try:
        completions = asyncio.run(policy.complete_batch(_requests(OBSERVATIONS)))
    finally:
        del policy.model.generate
    [call] = calls
    # The prefix-cache path ran (a growing KV cache was passed) and had nothing to reuse.
    assert call["past_key_values"] is not None and call["cached_columns"] == 0

    prompts = policy.render_prompts(_requests(OBSERVATIONS))
    batch = policy.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        plain = policy.model.generate(
            **batch,
            max_new_tokens=24,
            do_sample=False,
            pad_token_id=policy.tokenizer.pad_token_id,
            eos_token_id=policy.eos_ids,
        )
    assert torch.equal(call["input_ids"], batch["input_ids"])
    assert torch.equal(call["attention_mask"], batch["attention_mask"])
    assert torch.equal(call["output"], plain)
    width = batch["input_ids"].shape[1]
    assert [c.text for c in completions] == [
        policy.tokenizer.decode(_before_eos(row, policy.eos_ids), skip_special_tokens=True)
        for row in plain[:, width:].tolist()
    ]


def test_second_turn_reuses_the_first_turns_kv(tiny_model_dir: Path) -> None:
    policy = HFPolicy(tiny_model_dir, max_new_tokens=16)
    cache = policy.prefix_cache
    assert cache is not None
    first = asyncio.run(policy.act_batch(OBSERVATIONS))
    assert cache.hit_tokens == 0 and len(cache) > 0  # nothing to reuse yet; the turn is stored
    second_turn = [_next_turn(o, r, 0) for o, r in zip(OBSERVATIONS, first)]
    calls: list[dict] = []
    _recording_generate(policy, calls)
    try:
        asyncio.run(policy.act_batch(second_turn))
    finally:
        del policy.model.generate
    assert cache.hit_tokens > 0 and cache.hit_rate > 0
    # The reused prefixes were in the batch's KV cache before generate ran, so generate computed
    # only the columns after them.
    [call] = calls
    assert call["cached_columns"] > 0


def _requests(observations: list[dict]) -> list[ChatRequest]:
    return [ChatRequest(messages=o["messages"]) for o in observations]


def _before_eos(tokens: list[int], eos_ids: list[int]) -> list[int]:
    ends = [i for i, t in enumerate(tokens) if t in eos_ids]
    return tokens[: ends[0]] if ends else tokens


def test_the_model_loads_on_first_use_and_a_missing_path_fails_at_once(tiny_model_dir, tmp_path):
    """A sweep whose episodes are all stored never loads its models (a second `osim demo` is instant)."""
    policy = HFPolicy(tiny_model_dir)
    assert policy._model is None and policy.spec.model == str(tiny_model_dir)
    assert policy.act({"messages": [{"role": "user", "content": "hi"}]}) is not None
    assert policy._model is not None
    policy.close()
    assert policy._model is None
    with pytest.raises(ValueError, match="no model directory"):
        HFPolicy(tmp_path / "missing" / "model")


def test_models_loaded_in_two_threads_at_once_are_whole(tiny_model_dir: Path) -> None:
    # transformers' loading uses process-wide settings: without one load at a time, two concurrent loads
    # left a model with an uninitialized head (and later loads on the "meta" device).
    from concurrent.futures import ThreadPoolExecutor

    lone = HFPolicy(tiny_model_dir, max_new_tokens=6).act({"messages": [{"role": "user", "content": "hi"}]})
    policies = [HFPolicy(tiny_model_dir, max_new_tokens=6) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(lambda p: p.act({"messages": [{"role": "user", "content": "hi"}]}), policies))
    assert texts == [lone, lone]
