"""Reuse of transformer KV caches across prompts that share a token prefix (for ``HFPolicy``).

Why this exists: multi-turn envs re-send the whole conversation every turn, so the prompt of turn
k+1 is the prompt of turn k, the policy's reply and one new message. Recomputing the keys and
values of everything already read (the prefill) makes every turn cost as much as the whole episode
so far. Keeping the KV of what the policy has read and written, and starting each new prompt from
its longest cached token prefix, leaves only the new tokens to compute.

The pieces:

- ``PrefixKVCache`` holds token sequences with their KV under a byte budget and finds the cached
  sequence sharing the longest prefix with a prompt.
- ``BatchPlan`` lays out one left-padded batch so that every row's reused prefix ends at the same
  column; it builds the batch's KV cache from the reused prefixes and stores what the batch
  computed back into the ``PrefixKVCache``.
- ``growing_kv_layer()`` is a KV cache layer that writes new tokens into preallocated room instead
  of concatenating the whole cache at every decoding step (``transformers``' ``DynamicLayer``).

A batch where nothing is cached costs the same prefill as a plain ``model.generate``; the extra
work is copying each row's KV into the cache after generation, so that the next turn finds it.
``torch`` and ``transformers`` are imported on first use, so importing ``policies`` stays cheap.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

KV = list[tuple[Any, Any]]  # per layer (keys, values), each [kv_heads, tokens, head_dim]


def kv_reusable(model: Any) -> bool:
    """Whether ``model``'s KV can be cut and reused per token: only plain full-attention layers
    (a sliding window or linear attention keeps state that is not one column per token)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:  # a config transformers cannot build a cache from: generate as usual
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


@functools.cache
def growing_kv_layer() -> type:
    """The class of a full-attention KV cache layer whose buffers are allocated once per ``generate``.

    ``DynamicLayer`` concatenates the whole cache with each new token, so a batch of 64 rows of
    2,000 tokens copies every key and value at every decoding step; this layer writes the new
    columns into spare capacity (doubling when full) and hands attention a view of the filled part.
    (Built on first use so that importing ``policies`` does not import ``transformers``.)
    """
    from transformers.cache_utils import DynamicLayer

    class GrowingKVLayer(DynamicLayer):
        def __init__(self, keys: Any, values: Any, length: int) -> None:
            super().__init__()
            self._kbuf, self._vbuf, self._length = keys, values, length
            self.dtype, self.device = keys.dtype, keys.device
            self.is_initialized = True
            self._expose()

        def _expose(self) -> None:
            self.keys = self._kbuf[:, :, : self._length]
            self.values = self._vbuf[:, :, : self._length]

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            self.is_initialized = True

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            end = self._length + key_states.shape[-2]
            if end > self._kbuf.shape[2]:
                self._grow(end)
            self._kbuf[:, :, self._length : end] = key_states
            self._vbuf[:, :, self._length : end] = value_states
            self._length = end
            self._expose()
            return self.keys, self.values

        def _grow(self, needed: int) -> None:
            capacity = max(needed, 2 * self._kbuf.shape[2])
            for name in ("_kbuf", "_vbuf"):
                old = getattr(self, name)
                new = old.new_zeros((*old.shape[:2], capacity, old.shape[3]))
                new[:, :, : self._length] = old[:, :, : self._length]
                setattr(self, name, new)

        def get_seq_length(self) -> int:
            return self._length

        def crop(self, tokens_to_remove: int) -> None:
            keep = tokens_to_remove if tokens_to_remove > 0 else self._length + tokens_to_remove
            self._length = max(0, min(self._length, keep))
            self._expose()

        def batch_select_indices(self, indices: Any) -> None:
            self._kbuf, self._vbuf = self._kbuf[indices], self._vbuf[indices]
            self._expose()

        def reorder_cache(self, beam_idx: Any) -> None:
            self.batch_select_indices(beam_idx.to(self._kbuf.device))

        def reset(self) -> None:
            self._length = 0
            self._expose()

    return GrowingKVLayer


@dataclass
class _Entry:
    """The KV of one token sequence: per layer (keys, values), each ``[kv_heads, tokens, head_dim]``."""

    tokens: np.ndarray  # int64
    kv: KV
    nbytes: int


class PrefixKVCache:
    """Token sequences the policy has already run, with their KV, for reuse by later prompts.

    ``lookup`` finds the cached sequence sharing the longest token prefix with a prompt (the
    conversation so far, when an env re-sends it with one more turn). Entries are bucketed by their
    first ``KEY_TOKENS`` tokens (a chat's system prompt), evicted least recently used past
    ``max_bytes``; an entry that is a prefix of a newer one is dropped, as the newer one covers it.
    ``hit_tokens`` / ``prompt_tokens`` count the prompt tokens read from the cache / seen.
    """

    KEY_TOKENS = 16

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._buckets: dict[tuple[int, ...], list[int]] = {}
        self._next_id = 0
        self.hit_tokens = 0
        self.prompt_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _key(self, tokens: np.ndarray) -> tuple[int, ...]:
        return tuple(tokens[: self.KEY_TOKENS].tolist())

    def _bucket(self, tokens: np.ndarray) -> list[int]:
        """The ids of the entries that start with the same ``KEY_TOKENS`` tokens as ``tokens``."""
        return self._buckets.get(self._key(tokens), [])

    def lookup(self, tokens: np.ndarray) -> tuple[_Entry | None, int]:
        """The entry with the longest common prefix with ``tokens`` and that prefix's length."""
        if len(tokens) < self.KEY_TOKENS:
            return None, 0
        best_id, best_len = None, 0
        for entry_id in self._bucket(tokens):
            common = _common_prefix(self._entries[entry_id].tokens, tokens, longer_than=best_len)
            if common > best_len:
                best_id, best_len = entry_id, common
        if best_id is None:
            return None, 0
        self._entries.move_to_end(best_id)
        return self._entries[best_id], best_len

    def covers(self, tokens: np.ndarray) -> bool:
        """Whether ``tokens`` is a prefix of a cached sequence (inserting it would add nothing)."""
        for entry_id in self._bucket(tokens):
            if _starts_with(self._entries[entry_id].tokens, tokens):
                self._entries.move_to_end(entry_id)
                return True
        return False

    def insert(self, tokens: np.ndarray, kv: KV) -> None:
        """Remember ``tokens`` with their KV (the caller passes tensors it no longer writes to)."""
        if len(tokens) < self.KEY_TOKENS:
            return
        nbytes = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        if nbytes > self.max_bytes or self.covers(tokens):
            return
        for entry_id in list(self._bucket(tokens)):
            if _starts_with(tokens, self._entries[entry_id].tokens):
                self._drop(entry_id)  # the new sequence extends it
        entry_id, self._next_id = self._next_id, self._next_id + 1
        self._entries[entry_id] = _Entry(tokens, kv, nbytes)
        self._buckets.setdefault(self._key(tokens), []).append(entry_id)
        self.nbytes += nbytes
        while self.nbytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, entry_id: int) -> None:
        entry = self._entries.pop(entry_id)
        self.nbytes -= entry.nbytes
        key = self._key(entry.tokens)
        bucket = self._buckets[key]
        bucket.remove(entry_id)
        if not bucket:
            del self._buckets[key]

    def clear(self) -> None:
        """Forget every entry and reset the hit counters."""
        self._entries.clear()
        self._buckets.clear()
        self.nbytes = 0
        self.hit_tokens = self.prompt_tokens = 0

    @property
    def hit_rate(self) -> float:
        """The share of prompt tokens read from the cache since the last ``clear``."""
        return self.hit_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def _common_prefix(a: np.ndarray, b: np.ndarray, longer_than: int = 0) -> int:
    """The length of the common prefix of token arrays ``a`` and ``b`` (0 when it cannot exceed
    ``longer_than``, the best match found so far)."""
    n = min(len(a), len(b))
    if n <= longer_than:
        return 0
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if differ.size else n


def _starts_with(tokens: np.ndarray, prefix: np.ndarray) -> bool:
    """Whether token array ``tokens`` starts with ``prefix`` (and is at least as long)."""
    return len(tokens) >= len(prefix) and bool(np.array_equal(tokens[: len(prefix)], prefix))


@dataclass
class BatchPlan:
    """How one batch is laid out in ``width`` columns: each row's reused prefix ends at column
    ``cached`` (those columns come from the prefix cache) and its uncached tail ends at the last
    column; padding goes before the prefix and between prefix and tail. Positions are counted over
    the attention mask, so the padding in the middle shifts nothing. With nothing reused
    (``cached == 0``) this is the plain left-padded batch that ``model.generate`` expects."""

    prompts: list[np.ndarray]  # int64 token ids, one array per row
    hits: list[tuple[_Entry | None, int]]  # (entry, tokens reused) per row
    width: int
    cached: int
    input_ids: Any
    attention_mask: Any

    @classmethod
    def build(
        cls, prompts: Sequence[Sequence[int]], cache: PrefixKVCache | None, pad_id: int, count: bool = True
    ) -> BatchPlan:
        """Look every prompt up in ``cache`` and lay the batch out (``count``: add the prompts to
        the cache's hit statistics)."""
        arrays = [np.asarray(p, dtype=np.int64) for p in prompts]
        hits = [_reusable_prefix(cache, tokens) for tokens in arrays]
        cached = max(common for _, common in hits)
        width = cached + max(len(t) - common for t, (_, common) in zip(arrays, hits))
        input_ids = np.full((len(arrays), width), pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(arrays), width), dtype=np.int64)
        for row, (tokens, (_, common)) in enumerate(zip(arrays, hits)):
            tail = len(tokens) - common
            input_ids[row, cached - common : cached] = tokens[:common]
            input_ids[row, width - tail :] = tokens[common:]
            attention_mask[row, cached - common : cached] = 1
            attention_mask[row, width - tail :] = 1
        if cache is not None and count:
            cache.prompt_tokens += sum(len(t) for t in arrays)
            cache.hit_tokens += sum(common for _, common in hits)
        return cls(arrays, hits, width, cached, _as_tensor(input_ids), _as_tensor(attention_mask))

    def spans(self, row: int, length: int) -> list[tuple[int, int]]:
        """The column ranges holding the first ``length`` tokens of ``row``'s sequence: its reused
        prefix (if any) and the columns after the padding that follows it."""
        common = self.hits[row][1]
        tail_start = self.width - (len(self.prompts[row]) - common)
        spans = [(self.cached - common, self.cached)] if common else []
        return [*spans, (tail_start, tail_start + length - common)]

    def batch_cache(self, model: Any, max_new_tokens: int) -> Any:
        """A ``DynamicCache`` of growing layers holding every row's reused prefix in columns
        ``[0, cached)`` (zeros under padding), with room for the tail and ``max_new_tokens``."""
        from transformers import DynamicCache

        layer_class = growing_kv_layer()
        batch = DynamicCache(config=model.config)
        batch.layers = [
            layer_class(*self._layer_buffers(model, index, max_new_tokens), self.cached)
            for index in range(len(batch.layers))
        ]
        return batch

    def _layer_buffers(self, model: Any, index: int, max_new_tokens: int) -> tuple[Any, Any]:
        """Layer ``index``'s key and value buffers: the reused prefixes copied in, zeros under their
        padding, and uninitialised room for the columns that ``generate`` writes before reading."""
        import torch

        text = model.config.get_text_config(decoder=True)
        heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        shape = (len(self.prompts), heads, self.width + max_new_tokens, head_dim)
        keys = torch.empty(shape, dtype=model.dtype, device=model.device)
        values = torch.empty_like(keys)
        keys[:, :, : self.cached] = 0
        values[:, :, : self.cached] = 0
        for row, (entry, common) in enumerate(self.hits):
            if entry is not None:
                k, v = entry.kv[index]
                keys[row, :, self.cached - common : self.cached] = k[:, :common]
                values[row, :, self.cached - common : self.cached] = v[:, :common]
        return keys, values

    def remember(self, batch: Any, new_tokens: list[list[int]], cache: PrefixKVCache, eos: set[int]) -> None:
        """Store every row's prompt and generated tokens (up to its first eos) with their KV."""
        filled = batch.layers[0].get_seq_length()  # the last sampled token was never run
        for row, (tokens, generated) in enumerate(zip(self.prompts, new_tokens)):
            kept = _until_first(generated[: filled - self.width], eos)
            sequence = np.concatenate([tokens, np.asarray(kept, dtype=np.int64)])
            if cache.covers(sequence):
                continue  # rows that repeat a conversation: its KV is stored once
            cache.insert(sequence, self._row_kv(batch, row, len(sequence)))

    def _row_kv(self, batch: Any, row: int, length: int) -> KV:
        """A copy of the KV of the first ``length`` tokens of ``row``, per layer."""
        spans = self.spans(row, length)
        return [
            (_copy_columns(layer.keys[row], spans), _copy_columns(layer.values[row], spans))
            for layer in batch.layers
        ]


def _reusable_prefix(cache: PrefixKVCache | None, tokens: np.ndarray) -> tuple[_Entry | None, int]:
    """The cached entry to start ``tokens`` from and how many of its tokens to reuse; the last
    prompt token is always run, as ``generate`` needs its logits."""
    if cache is None:
        return None, 0
    entry, common = cache.lookup(tokens)
    common = min(common, len(tokens) - 1)
    return (entry if common > 0 else None), max(common, 0)


def _copy_columns(tensor: Any, spans: list[tuple[int, int]]) -> Any:
    """A new ``[heads, tokens, head_dim]`` tensor of ``tensor``'s columns in ``spans``, in order (a
    copy, so that a cache entry does not keep the whole batch's buffer alive)."""
    import torch

    parts = [tensor[:, start:stop] for start, stop in spans]
    return parts[0].clone() if len(parts) == 1 else torch.cat(parts, dim=1)


def _until_first(tokens: list[int], stop: set[int]) -> list[int]:
    """``tokens`` up to and including the first one in ``stop``."""
    for i, t in enumerate(tokens):
        if t in stop:
            return tokens[: i + 1]
    return tokens


def _as_tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array)
