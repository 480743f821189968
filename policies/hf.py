"""A local Hugging Face ``transformers`` model as a policy, with true batched generation.

A batch of chat requests is rendered with the tokenizer's chat template, left-padded and decoded by
ONE ``model.generate`` call, so a runner that gathers 64 pending turns pays for one forward pass per
token instead of 64. Requests that ask for structured output are decoded under an xgrammar JSON
schema grammar (requests with different schemas are grouped, one ``generate`` per group).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from osim_env.seeding import derive_seed
from policies.base import ChatRequest, Completion, LocalPolicy, PolicyError, PolicySpec
from policies.sampling import Sampling


class HFPolicy(LocalPolicy):
    """A ``transformers`` causal LM. ``temperature=0`` (the default) decodes greedily.

    ``seed`` makes sampling reproducible: the k-th ``generate`` call of the policy samples with a
    seed derived from (``seed``, k), independent of the global torch RNG.
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
        """One left-padded ``generate`` call for ``requests`` (all under the same schema, if any)."""
        import torch

        start = time.perf_counter()
        budgets = [self.sampling.budget(r.max_tokens) for r in requests]
        inputs = self.tokenizer(
            self.render_prompts(requests), return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.model.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(budgets),
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
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(call_seed)
            output = self.model.generate(**inputs, **kwargs)
        latency = time.perf_counter() - start  # every request of the batch waited this long
        prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
        new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
        completions = []
        for tokens, budget, n_prompt in zip(new_tokens, budgets, prompt_lengths):
            tokens, n_generated = self._until_eos(tokens[:budget])
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            completions.append(
                Completion(
                    text=text,
                    raw=text,
                    prompt_tokens=int(n_prompt),
                    completion_tokens=n_generated,
                    latency_s=latency,
                )
            )
        return completions

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
