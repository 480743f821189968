"""A local Hugging Face ``transformers`` model as a policy, with true batched generation.

A batch of chat requests is rendered with the tokenizer's chat template, left-padded and decoded by
ONE ``model.generate`` call, so a runner that gathers 64 pending turns pays for one forward pass per
token instead of 64. Requests that ask for structured output are decoded under an xgrammar JSON
schema grammar (requests with different schemas are grouped, one ``generate`` per group).

Multi-turn envs re-send the whole conversation every turn, so each row of a batch starts from the
longest token prefix whose KV the policy has already computed (``policies.prefix_cache``): a new
prompt only pays for the tokens after it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from osim_env.seeding import derive_seed
from policies.base import ChatRequest, Completion, LocalPolicy, PolicyError, PolicySpec
from policies.prefix_cache import BatchPlan, PrefixKVCache, kv_reusable
from policies.sampling import Sampling

# transformers builds a model under process-wide settings (the default device while it allocates), so two
# loads in two threads corrupt each other's model: one load at a time in the whole process.
_FROM_PRETRAINED = threading.Lock()


class HFPolicy(LocalPolicy):
    """A ``transformers`` causal LM. ``temperature=0`` (the default) decodes greedily.

    ``seed`` makes sampling reproducible: the k-th ``generate`` call of the policy samples with a
    seed derived from (``seed``, k), independent of the global torch RNG.

    ``prefix_cache_mb`` bounds the KV kept for reuse by later prompts (``policies.prefix_cache``; 0 turns
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
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._generate_calls = 0
        self._grammar_compiler: Any = None
        self._device, self._dtype, self._prefix_cache_mb = device, dtype, prefix_cache_mb
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos_ids: list[int] = []
        self._context_tokens: int | None = None
        self._prefix_cache: PrefixKVCache | None = None
        if isinstance(path_or_model, (str, Path)):
            # Loaded on first use: a sweep whose episodes are all stored already never pays for it.
            name = self._path = str(path_or_model)
            if not Path(name).is_dir() and (name.startswith(("/", ".", "~")) or name.count("/") > 1):
                raise ValueError(f"HFPolicy: no model directory {name!r}")
        else:
            if tokenizer is None:
                raise ValueError("pass the tokenizer together with a model object")
            self._path = None
            name = str(getattr(path_or_model, "name_or_path", "") or type(path_or_model).__name__)
            self._set_up(path_or_model, tokenizer)
        self.spec = PolicySpec(backend="hf", model=name, sampling=self.sampling.as_spec(), seed=seed)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._load()
        return self._model

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._load()
        return self._tokenizer

    @property
    def eos_ids(self) -> list[int]:
        if self._model is None:
            self._load()
        return self._eos_ids

    @property
    def prefix_cache(self) -> PrefixKVCache | None:
        if self._model is None:
            self._load()
        return self._prefix_cache

    def _load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            if self._path is None:
                raise PolicyError("HFPolicy: the model object it was given has been closed")
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            with _FROM_PRETRAINED:
                model = AutoModelForCausalLM.from_pretrained(self._path, dtype=getattr(torch, self._dtype))
                tokenizer = AutoTokenizer.from_pretrained(self._path)
            self._set_up(model, tokenizer)

    def _set_up(self, model: Any, tokenizer: Any) -> None:
        if self._device is not None:
            model.to(self._device)
        model.eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._eos_ids = _eos_ids(model, tokenizer)
        self._context_tokens = _context_length(model)
        self._prefix_cache = (
            PrefixKVCache(int(self._prefix_cache_mb * 2**20))
            if self._prefix_cache_mb > 0 and kv_reusable(model)
            else None
        )
        self._model, self._tokenizer = model, tokenizer

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

    @property
    def context_tokens(self) -> int | None:
        """The model's ``max_position_embeddings`` (prompt and new tokens together)."""
        if self._model is None:
            self._load()
        return self._context_tokens

    def prompt_tokens(self, request: ChatRequest) -> int:
        with self._lock:  # a fast tokenizer is not safe to call from two threads at once
            return len(self._tokenize(self.render_prompts([request]))[0])

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
        a row's tokens keep the positions they had when their KV was computed. With nothing cached
        the batch is the plain left-padded one.
        """
        start = time.perf_counter()
        prompts = self._tokenize(self.render_prompts(requests))
        # Generation stops at the end of the context: a longer budget is cut there ("length").
        budgets = [self._room(self.sampling.budget(r.max_tokens), len(p)) for r, p in zip(requests, prompts)]
        if self.prefix_cache is not None:
            self._prefill_repeated(prompts)
        plan = BatchPlan.build(prompts, self.prefix_cache, self.tokenizer.pad_token_id)
        new_tokens = self._generate(plan, max(budgets), json_schema)
        latency = time.perf_counter() - start  # every request of the batch waited this long
        return self._completions(new_tokens, budgets, prompts, latency)

    def _room(self, budget: int, prompt_length: int) -> int:
        """``budget`` cut to the context left after the prompt (at least one token)."""
        if self.context_tokens is None:
            return budget
        return max(1, min(budget, self.context_tokens - prompt_length))

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of rendered prompts (the chat template already holds the special tokens)."""
        encoded = self.tokenizer(texts, add_special_tokens=False, return_attention_mask=False)
        return encoded["input_ids"]

    def _generate(
        self, plan: BatchPlan, max_new_tokens: int, json_schema: dict[str, Any] | None
    ) -> list[list[int]]:
        """Run ``generate`` on ``plan``'s batch and return each row's new tokens; the KV the batch
        computed goes into the prefix cache for later prompts."""
        import torch

        kwargs = self._generate_kwargs(max_new_tokens, json_schema)
        device = self.model.device
        with self._seeded_rng(), torch.inference_mode():
            cache = None
            if self.prefix_cache is not None:
                cache = plan.batch_cache(self.model, max_new_tokens)
                kwargs["past_key_values"] = cache
            output = self.model.generate(
                input_ids=plan.input_ids.to(device), attention_mask=plan.attention_mask.to(device), **kwargs
            )
        new_tokens = output[:, plan.width :].tolist()
        if cache is not None and self.prefix_cache is not None:
            plan.remember(cache, new_tokens, self.prefix_cache, set(self.eos_ids))
        return new_tokens

    def _generate_kwargs(self, max_new_tokens: int, json_schema: dict[str, Any] | None) -> dict[str, Any]:
        """``generate``'s decoding arguments for this policy's sampling settings."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "min_new_tokens": min(self.sampling.min_new_tokens, max_new_tokens) or None,
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
        return kwargs

    def _seeded_rng(self) -> contextlib.AbstractContextManager[None]:
        """Sample the k-th ``generate`` call with a seed derived from (``seed``, k), leaving the
        global torch RNG as it was. Greedy decoding draws no random numbers and needs no seed."""
        call_seed = derive_seed(self.seed, "hf-generate", self._generate_calls)
        self._generate_calls += 1
        return contextlib.nullcontext() if self.sampling.greedy else _torch_seeded(call_seed)

    def _completions(
        self, new_tokens: list[list[int]], budgets: list[int], prompts: list[list[int]], latency: float
    ) -> list[Completion]:
        """One completion per row: its tokens up to its budget and first eos, decoded. A row that
        used its whole budget without an eos was cut (``finish_reason="length"``)."""
        cut = [self._until_eos(tokens[:budget]) for tokens, budget in zip(new_tokens, budgets)]
        texts = self.tokenizer.batch_decode([tokens for tokens, _ in cut], skip_special_tokens=True)
        return [
            Completion(
                text=text,
                raw=text,
                prompt_tokens=len(prompt),
                completion_tokens=n_generated,
                latency_s=latency,
                finish_reason="length" if len(kept) == budget else "stop",
            )
            for text, (kept, n_generated), prompt, budget in zip(texts, cut, prompts, budgets)
        ]

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
            cache = plan.batch_cache(self.model, 0)
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
        """Drop the model, its KV cache and grammar compiler (a policy built from a path reloads on use)."""
        if self._prefix_cache is not None:
            self._prefix_cache.clear()
        self._model = self._tokenizer = self._prefix_cache = None
        self._grammar_compiler = None


@contextlib.contextmanager
def _torch_seeded(seed: int) -> Iterator[None]:
    """Torch's CPU RNG seeded with ``seed`` inside the block and restored after it."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _context_length(model: Any) -> int | None:
    """The model's context length from its config (``None`` when the config does not say)."""
    config = getattr(model, "config", None)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    value = getattr(text_config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


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
