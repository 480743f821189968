"""The prefix KV cache on its own: lookup, replacement, byte budget and a batch's column layout."""

from __future__ import annotations

import numpy as np
import torch

from policies.prefix_cache import BatchPlan, PrefixKVCache


def kv(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One layer of KV for ``n`` tokens (one head of 2 dims), each column holding its position."""
    return [(torch.arange(n * 2, dtype=torch.float32).view(1, n, 2), torch.zeros(1, n, 2))]


def test_prefix_cache_lookup_replacement_and_byte_budget() -> None:
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


def test_batch_plan_lays_out_reused_prefixes_and_tails() -> None:
    cache = PrefixKVCache(max_bytes=2**20)
    cache.insert(np.arange(20), kv(20))
    prompts = [[*range(24)], [*range(100, 118)]]  # a continued sequence and a new one
    plan = BatchPlan.build(prompts, cache, pad_id=-1)
    # Row 0 reuses its 20 cached tokens: its prefix ends at column ``cached``, its tail at the end.
    assert plan.hits[0][1] == 20 and plan.hits[1] == (None, 0)
    assert plan.cached == 20 and plan.width == 20 + 18
    assert plan.input_ids[0].tolist() == [*range(20)] + [-1] * 14 + [20, 21, 22, 23]
    assert plan.input_ids[1].tolist() == [-1] * 20 + [*range(100, 118)]
    assert plan.attention_mask.sum(-1).tolist() == [24, 18]
    assert plan.spans(0, 26) == [(0, 20), (34, 40)]
    assert plan.spans(1, 18) == [(20, 38)]
    assert cache.prompt_tokens == 42 and cache.hit_tokens == 20


def test_a_batch_with_nothing_cached_is_the_plain_left_padded_batch() -> None:
    prompts = [[5, 6, 7], [8, 9]]
    for cache in (None, PrefixKVCache(max_bytes=2**20)):
        plan = BatchPlan.build(prompts, cache, pad_id=0)
        assert plan.cached == 0 and plan.width == 3
        assert plan.input_ids.tolist() == [[5, 6, 7], [0, 8, 9]]
        assert plan.attention_mask.tolist() == [[1, 1, 1], [0, 1, 1]]
