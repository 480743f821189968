"""A local Hugging Face ``transformers`` model as a policy, with true batched generation.

A batch of chat requests is rendered with the tokenizer's chat template, left-padded and decoded by
ONE ``model.generate`` call, so a runner that gathers 64 pending turns pays for one forward pass per
token instead of 64. Requests that ask for structured output are decoded under an xgrammar JSON
schema grammar (requests with different schemas are grouped, one ``generate`` per group).

Multi-turn envs re-send the whole conversation every turn, so the policy keeps the KV cache of what
it has already read and written (``PrefixKVCache``): a new prompt only pays for the tokens after its
longest cached token prefix, and the batch's cache grows in place instead of being re-concatenated
at every decoding step (``GrowingKVLayer``).
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osim_env.seeding import derive_seed
from policies.base import ChatRequest, Completion, LocalPolicy, PolicyError, PolicySpec
from policies.sampling import Sampling


class HFPolicy(LocalPolicy):
    """A ``transformers`` causal LM. ``temperature=0`` (the default) decodes greedily.

    ``seed`` makes sampling reproducible: the k-th ``generate`` call of the policy samples with a
    seed derived from (``seed``, k), independent of the global torch RNG.

    ``prefix_cache_mb`` bounds the KV kept for reuse by later prompts (``PrefixKVCache``; 0 turns
    reuse off and generates exactly as plain ``model.generate``). Reused KV was computed in another
    batch layout, so logits can differ from a cold run by float rounding, as they do between batch
    sizes; greedy text is the same unless two tokens tie to within that rounding.
    """

    def __init__(
        self,
        path_or_model: str | Path | Any,
        tokenizer: Any = None,
        *,
        max_new_tokens: int = 128,
        min_new_tokens: int = 0,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        repetition_penalty: float = 1.0,
        seed: int = 0,
        device: str | None = None,
        dtype: str = "float32",
        strip_think: bool = True,
        prefix_cache_mb: float = 1024,
    ) -> None:
        super().__init__()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(path_or_model, (str, Path)):
            name = str(path_or_model)
            self.model = AutoModelForCausalLM.from_pretrained(name, dtype=getattr(torch, dtype))
            self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(name)
        else:
            if tokenizer is None:
                raise ValueError("pass the tokenizer together with a model object")
            self.model, self.tokenizer = path_or_model, tokenizer
            name = str(getattr(self.model, "name_or_path", "") or type(self.model).__name__)
        if device is not None:
            self.model.to(device)
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        self.sampling = Sampling(
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            repetition_penalty=repetition_penalty,
        )
        self.seed = seed
        self.strip_think = strip_think
        self.spec = PolicySpec(backend="hf", model=name, sampling=self.sampling.as_spec(), seed=seed)
        self._lock = threading.Lock()
        self._generate_calls = 0
        self._grammar_compiler: Any = None
        self.prefix_cache = (
            PrefixKVCache(int(prefix_cache_mb * 2**20))
            if prefix_cache_mb > 0 and _kv_reusable(self.model)
            else None
        )

    def _complete_sync(self, requests: list[ChatRequest]) -> list[Completion]:
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            key = "" if r.json_schema is None else json.dumps(r.json_schema, sort_keys=True)
            groups.setdefault(key, []).append(i)
        out: list[Completion | None] = [None] * len(requests)
        with self._lock:
            for key, indices in groups.items():
                schema = json.loads(key) if key else None
                batch = [requests[i] for i in indices]
                for i, completion in zip(indices, self.generate_batch(batch, schema)):
                    out[i] = completion
        return [c for c in out if c is not None]

    def render_prompts(self, requests: Sequence[ChatRequest]) -> list[str]:
        return [
            self.tokenizer.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True)
            for r in requests
        ]

    def generate_batch(
        self, requests: Sequence[ChatRequest], json_schema: dict[str, Any] | None = None
    ) -> list[Completion]:
        """One left-padded ``generate`` call for ``requests`` (all under the same schema, if any).

        Each row starts from its longest cached token prefix: the batch's KV cache is pre-filled with
        the cached prefixes (left-padded, so every row's uncached tail ends at the same column) and
        ``generate`` computes only the columns after them. Positions come from the attention mask, so
        a row's tokens keep the positions they had when their KV was computed.
        """
        import torch

        start = time.perf_counter()
        budgets = [self.sampling.budget(r.max_tokens) for r in requests]
        max_new = max(budgets)
        prompts = self.tokenizer(self.render_prompts(requests), add_special_tokens=False)["input_ids"]
        if self.prefix_cache is not None:
            self._prefill_repeated(prompts)
        plan = BatchPlan.build(prompts, self.prefix_cache, self.tokenizer.pad_token_id)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "min_new_tokens": self.sampling.min_new_tokens or None,
            "do_sample": not self.sampling.greedy,
            "repetition_penalty": self.sampling.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.eos_ids,
        }
        if self.sampling.greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(
                temperature=self.sampling.temperature, top_p=self.sampling.top_p, top_k=self.sampling.top_k
            )
        if json_schema is not None:
            kwargs["logits_processor"] = [self._schema_processor(json_schema)]
        call_seed = derive_seed(self.seed, "hf-generate", self._generate_calls)
        self._generate_calls += 1
        device = self.model.device
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(call_seed)
            cache = None
            if self.prefix_cache is not None:
                cache = plan.batch_cache(self.model, self.prefix_cache, max_new)
                kwargs["past_key_values"] = cache
            output = self.model.generate(
                input_ids=plan.input_ids.to(device), attention_mask=plan.attention_mask.to(device), **kwargs
            )
        latency = time.perf_counter() - start  # every request of the batch waited this long
        new_tokens = output[:, plan.width :].tolist()
        if cache is not None and self.prefix_cache is not None:
            plan.remember(cache, new_tokens, self.prefix_cache, set(self.eos_ids))
        completions = []
        for tokens, budget, prompt in zip(new_tokens, budgets, prompts):
            tokens, n_generated = self._until_eos(tokens[:budget])
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            completions.append(
                Completion(
                    text=text,
                    raw=text,
                    prompt_tokens=len(prompt),
                    completion_tokens=n_generated,
                    latency_s=latency,
                )
            )
        return completions

    def _prefill_repeated(self, prompts: list[list[int]]) -> None:
        """Run once each prompt that several rows of the batch repeat (many episodes of one scenario
        start alike; GRPO samples several completions per prompt), so that those rows all find it
        in the prefix cache instead of each computing the same KV."""
        import torch

        assert self.prefix_cache is not None
        counts: dict[tuple[int, ...], int] = {}
        for prompt in prompts:
            key = tuple(prompt)
            counts[key] = counts.get(key, 0) + 1
        repeated = [list(key) for key, n in counts.items() if n > 1]
        if not repeated:
            return
        plan = BatchPlan.build(repeated, self.prefix_cache, self.tokenizer.pad_token_id, count=False)
        mask = plan.attention_mask.to(self.model.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            cache = plan.batch_cache(self.model, self.prefix_cache, 0)
            self.model(
                input_ids=plan.input_ids[:, plan.cached :].to(self.model.device),
                attention_mask=mask,
                position_ids=positions[:, plan.cached :],
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
        plan.remember(cache, [[] for _ in repeated], self.prefix_cache, set(self.eos_ids))
        # Computed here, not reused: the batch's rows will count these tokens as cache hits.
        computed = sum(len(p) - common for p, (_, common) in zip(plan.prompts, plan.hits))
        self.prefix_cache.hit_tokens -= computed

    def _until_eos(self, tokens: list[int]) -> tuple[list[int], int]:
        """The tokens before the first eos, and how many tokens were generated (eos included)."""
        for i, t in enumerate(tokens):
            if t in self.eos_ids:
                return tokens[:i], i + 1
        return tokens, len(tokens)

    def _schema_processor(self, json_schema: dict[str, Any]) -> Any:
        try:
            import xgrammar
            from xgrammar.contrib.hf import LogitsProcessor
        except ImportError as exc:
            raise PolicyError(
                "HFPolicy structured output needs xgrammar (pip install xgrammar; [vllm] has it)",
                cause=exc,
            ) from exc
        if self._grammar_compiler is None:
            info = xgrammar.TokenizerInfo.from_huggingface(
                self.tokenizer,
                vocab_size=self.model.config.get_text_config().vocab_size,
                stop_token_ids=self.eos_ids,
            )
            self._grammar_compiler = xgrammar.GrammarCompiler(info)
        grammar = self._grammar_compiler.compile_json_schema(json.dumps(json_schema), any_whitespace=False)
        return LogitsProcessor(grammar)

    def close(self) -> None:
        self.model = None
        self._grammar_compiler = None
        if self.prefix_cache is not None:
            self.prefix_cache.clear()


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every id that ends a turn: the generation config's eos ids and the tokenizer's eos."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if value is None:
            continue
        for i in value if isinstance(value, (list, tuple)) else [value]:
            if int(i) not in ids:
                ids.append(int(i))
    if not ids:
        raise ValueError("the model has no eos token; set generation_config.eos_token_id")
    return ids


def _kv_reusable(model: Any) -> bool:
    """Prefix reuse needs plain full-attention KV layers (no sliding windows, no linear attention)."""
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

    tokens: Any  # numpy int64 array
    kv: list[tuple[Any, Any]]
    nbytes: int


class PrefixKVCache:
    """Token sequences the policy has already run, with their KV, for reuse by later prompts.

    ``lookup`` finds the cached sequence sharing the longest token prefix with a prompt (the
    conversation so far, when an env re-sends it with one more turn). Entries are bucketed by their
    first ``KEY_TOKENS`` tokens (a chat's system prompt), evicted least recently used past
    ``max_bytes``; an entry that is a prefix of a newer one is dropped, as the newer one covers it.
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

    def _key(self, tokens: Any) -> tuple[int, ...]:
        return tuple(int(t) for t in tokens[: self.KEY_TOKENS])

    def lookup(self, tokens: Any) -> tuple[_Entry | None, int]:
        """The entry with the longest common prefix with ``tokens`` and that prefix's length."""
        import numpy as np

        best, best_len = None, 0
        if len(tokens) < self.KEY_TOKENS:
            return None, 0
        for entry_id in self._buckets.get(self._key(tokens), ()):
            entry = self._entries[entry_id]
            n = min(len(entry.tokens), len(tokens))
            if n <= best_len:
                continue
            differ = np.flatnonzero(entry.tokens[:n] != tokens[:n])
            common = int(differ[0]) if differ.size else n
            if common > best_len:
                best, best_len = (entry_id, entry), common
        if best is None:
            return None, 0
        self._entries.move_to_end(best[0])
        return best[1], best_len

    def covers(self, tokens: Any) -> bool:
        """Whether ``tokens`` is a prefix of a cached sequence (inserting it would add nothing)."""
        import numpy as np

        for entry_id in self._buckets.get(self._key(tokens), ()):
            entry = self._entries[entry_id]
            if len(entry.tokens) >= len(tokens) and np.array_equal(entry.tokens[: len(tokens)], tokens):
                self._entries.move_to_end(entry_id)
                return True
        return False

    def insert(self, tokens: Any, kv: list[tuple[Any, Any]]) -> None:
        """Remember ``tokens`` with their KV (the caller passes tensors it no longer writes to)."""
        import numpy as np

        if len(tokens) < self.KEY_TOKENS:
            return
        nbytes = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        if nbytes > self.max_bytes:
            return
        if self.covers(tokens):
            return
        key = self._key(tokens)
        for entry_id in list(self._buckets.get(key, ())):
            entry = self._entries[entry_id]
            if len(entry.tokens) < len(tokens) and np.array_equal(tokens[: len(entry.tokens)], entry.tokens):
                self._drop(entry_id)  # the new sequence extends it
        entry_id, self._next_id = self._next_id, self._next_id + 1
        self._entries[entry_id] = _Entry(tokens, kv, nbytes)
        self._buckets.setdefault(key, []).append(entry_id)
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


@dataclass
class BatchPlan:
    """How one batch is laid out in ``width`` columns: each row's reused prefix ends at column
    ``cached`` (those columns come from the prefix cache) and its uncached tail ends at the last
    column; padding goes before the prefix and between prefix and tail. Positions are counted over
    the attention mask, so the padding in the middle shifts nothing."""

    prompts: list[Any]  # numpy int64 arrays, one per row
    hits: list[tuple[_Entry | None, int]]  # (entry, tokens reused) per row
    width: int
    cached: int
    input_ids: Any
    attention_mask: Any

    @classmethod
    def build(
        cls, prompts: Sequence[Sequence[int]], cache: PrefixKVCache | None, pad_id: int, count: bool = True
    ) -> BatchPlan:
        import numpy as np
        import torch

        arrays = [np.asarray(p, dtype=np.int64) for p in prompts]
        hits: list[tuple[_Entry | None, int]] = []
        for tokens in arrays:
            entry, common = cache.lookup(tokens) if cache is not None else (None, 0)
            common = min(common, len(tokens) - 1)  # the last prompt token is always run
            hits.append((entry if common > 0 else None, common))
        cached = max(common for _, common in hits)
        width = cached + max(len(t) - common for t, (_, common) in zip(arrays, hits))
        input_ids = torch.full((len(arrays), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(arrays), width), dtype=torch.long)
        for row, (tokens, (_, common)) in enumerate(zip(arrays, hits)):
            tail = len(tokens) - common
            input_ids[row, cached - common : cached] = torch.from_numpy(tokens[:common])
            input_ids[row, width - tail :] = torch.from_numpy(tokens[common:])
            attention_mask[row, cached - common : cached] = 1
            attention_mask[row, width - tail :] = 1
        if cache is not None and count:
            cache.prompt_tokens += sum(len(t) for t in arrays)
            cache.hit_tokens += sum(common for _, common in hits)
        return cls(arrays, hits, width, cached, input_ids, attention_mask)

    def columns(self, row: int, length: int) -> Any:
        """The cache columns holding the first ``length`` tokens of ``row``'s sequence."""
        import torch

        common = self.hits[row][1]
        tail_start = self.width - (len(self.prompts[row]) - common)
        prefix = torch.arange(self.cached - common, self.cached)
        rest = torch.arange(tail_start, tail_start + length - common)
        return torch.cat([prefix, rest])

    def batch_cache(self, model: Any, cache: PrefixKVCache, max_new_tokens: int) -> Any:
        """A ``DynamicCache`` of growing layers holding every row's reused prefix in columns
        ``[0, cached)`` (zeros under padding), with room for the tail and ``max_new_tokens``."""
        import torch
        from transformers import DynamicCache

        layer_class = growing_kv_layer()
        batch = DynamicCache(config=model.config)
        text = model.config.get_text_config(decoder=True)
        heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        shape = (len(self.prompts), heads, self.width + max_new_tokens, head_dim)
        layers = []
        for index in range(len(batch.layers)):
            keys = torch.zeros(shape, dtype=model.dtype, device=model.device)
            values = torch.zeros_like(keys)
            for row, (entry, common) in enumerate(self.hits):
                if entry is None:
                    continue
                k, v = entry.kv[index]
                keys[row, :, self.cached - common : self.cached] = k[:, :common]
                values[row, :, self.cached - common : self.cached] = v[:, :common]
            layers.append(layer_class(keys, values, self.cached))
        batch.layers = layers
        return batch

    def remember(self, batch: Any, new_tokens: list[list[int]], cache: PrefixKVCache, eos: set[int]) -> None:
        """Store every row's prompt and generated tokens (up to its first eos) with their KV."""
        import numpy as np

        filled = batch.layers[0].get_seq_length()  # the last sampled token was never run
        for row, (tokens, generated) in enumerate(zip(self.prompts, new_tokens)):
            kept = []
            for t in generated[: filled - self.width]:
                kept.append(t)
                if t in eos:
                    break
            sequence = np.concatenate([tokens, np.asarray(kept, dtype=np.int64)])
            if cache.covers(sequence):
                continue  # rows that repeat a conversation: its KV is stored once
            columns = self.columns(row, len(sequence))
            kv = [
                (layer.keys[row].index_select(1, columns), layer.values[row].index_select(1, columns))
                for layer in batch.layers
            ]
            cache.insert(sequence, kv)
