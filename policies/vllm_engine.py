"""A local model on vLLM's offline engine (``vllm.LLM``) as a policy.

vLLM batches continuously on its own, so a whole batch of chat requests is handed over in one
``LLM.chat`` call. Requests with a JSON schema are decoded under a grammar (vLLM structured
outputs), which is what LLM judges need from a local model. vLLM is an optional extra
(``pip install 'osim[vllm]'``, then ``scripts/install_vllm.sh`` on CPU machines) and is imported
only when a ``VLLMPolicy`` is created.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from osim_env.seeding import derive_seed
from policies.base import ChatRequest, Completion, LocalPolicy, Policy, PolicyError, PolicySpec
from policies.sampling import Sampling

CPU_KV_CACHE_BYTES = 512 * 2**20
"""KV cache reserved on CPU machines when none is configured: vLLM's default (a fraction of the
NUMA node's memory) refuses to start when other processes use memory; 512 MiB is plenty for small
models and short episodes."""


def merged_checkpoint(path: str | Path) -> str:
    """A model directory vLLM can load: ``path`` itself, or for a LoRA adapter checkpoint (an
    ``adapter_config.json``, as ``osim train --lora`` saves) the adapter merged into its base model,
    written once under ``$OSIM_CACHE_DIR/merged/<hash of the adapter files>`` with the adapter's
    tokenizer."""
    import hashlib
    import os
    import tempfile

    path = Path(path)
    if not (path / "adapter_config.json").is_file():
        return str(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(file.name.encode() + file.read_bytes())
    root = Path(os.environ.get("OSIM_CACHE_DIR") or Path.home() / ".cache" / "osim") / "merged"
    target = root / digest.hexdigest()[:16]
    if (target / "config.json").is_file():
        return str(target)
    import shutil

    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    try:
        AutoPeftModelForCausalLM.from_pretrained(str(path)).merge_and_unload().save_pretrained(staging)
        AutoTokenizer.from_pretrained(str(path)).save_pretrained(staging)
        staging.rename(target)
    except OSError:
        if not (target / "config.json").is_file():  # not a concurrent merge that won the race
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


class VLLMPolicy(LocalPolicy):
    """A model served in-process by ``vllm.LLM``. ``temperature=0`` (the default) is greedy.

    ``engine_kwargs`` go to ``vllm.LLM`` unchanged (``max_model_len``, ``gpu_memory_utilization``,
    ``tensor_parallel_size``, ...). Structured output drops free whitespace between JSON tokens so
    that even a weak model closes its object within the token budget.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_new_tokens: int = 128,
        min_new_tokens: int = 0,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        repetition_penalty: float = 1.0,
        seed: int = 0,
        dtype: str = "auto",
        strip_think: bool = True,
        **engine_kwargs: Any,
    ) -> None:
        super().__init__()
        try:
            from vllm import LLM
            from vllm.config import StructuredOutputsConfig
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise ImportError(
                "VLLMPolicy needs vLLM: pip install 'osim[vllm]' (on CPU: scripts/install_vllm.sh)"
            ) from exc
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
        if current_platform.is_cpu() and not {"kv_cache_memory_bytes", "gpu_memory_utilization"} & set(
            engine_kwargs
        ):
            engine_kwargs["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
        engine_kwargs.setdefault(
            "structured_outputs_config",
            StructuredOutputsConfig(backend="xgrammar", disable_any_whitespace=True),
        )
        self.llm = LLM(model=merged_checkpoint(path), dtype=dtype, seed=seed, **engine_kwargs)
        self._owns_engine = True
        self._lock = threading.Lock()  # vllm.LLM is not thread-safe; shared with sharing() policies
        self._finish_init(str(path), dtype)

    def _finish_init(self, model: str, dtype: str) -> None:
        self.tokenizer = self.llm.get_tokenizer()
        self._context_tokens = int(self.llm.llm_engine.model_config.max_model_len)
        self.spec = PolicySpec(
            backend="vllm",
            model=model,
            sampling=self.sampling.as_spec(),
            seed=self.seed,
            extra={"dtype": dtype},
        )
        self._requests_made = 0

    def sharing(
        self,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        repetition_penalty: float | None = None,
        seed: int | None = None,
    ) -> VLLMPolicy:
        """Another policy on this policy's engine with other sampling parameters.

        One engine can then play a partner (sampled) and a judge (greedy) without loading the model
        twice. Closing the new policy leaves the engine running; closing this one stops it.
        """
        if self.llm is None:
            raise PolicyError("this VLLMPolicy was closed", spec=self.spec.model_dump())
        changes = {
            "max_new_tokens": max_new_tokens,
            "min_new_tokens": min_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": top_k,
            "repetition_penalty": repetition_penalty,
        }
        other = object.__new__(VLLMPolicy)
        Policy.__init__(other)
        other.sampling = Sampling(
            **{**self.sampling.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
        )
        other.seed = self.seed if seed is None else seed
        other.strip_think = self.strip_think
        other.llm = self.llm
        other._owns_engine = False
        other._lock = self._lock
        other._finish_init(self.spec.model, str(self.spec.extra.get("dtype", "auto")))
        return other

    @property
    def context_tokens(self) -> int | None:
        """The engine's ``max_model_len`` (prompt and new tokens together; vLLM stops a generation
        that reaches it with ``finish_reason="length"``)."""
        return self._context_tokens

    def prompt_tokens(self, request: ChatRequest) -> int:
        with self._lock:  # the engine's tokenizer is not safe to call from two threads at once
            ids = self.tokenizer.apply_chat_template(
                request.messages, tokenize=True, add_generation_prompt=True
            )
        return len(ids["input_ids"] if hasattr(ids, "keys") else ids)  # newer tokenizers return a mapping

    def sampling_params(self, request: ChatRequest) -> Any:
        """vLLM ``SamplingParams`` for one request (seeded per request, so sampling replays)."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        s = self.sampling
        params: dict[str, Any] = {
            "max_tokens": s.budget(request.max_tokens),
            "min_tokens": s.min_new_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "repetition_penalty": s.repetition_penalty,
            "seed": derive_seed(self.seed, "vllm-request", self._requests_made),
        }
        self._requests_made += 1
        if s.top_k is not None:
            params["top_k"] = s.top_k
        if request.json_schema is not None:
            params["structured_outputs"] = StructuredOutputsParams(json=request.json_schema)
        return SamplingParams(**params)

    def _complete_sync(self, requests: list[ChatRequest]) -> list[Completion]:
        if self.llm is None:
            raise PolicyError("this VLLMPolicy was closed", spec=self.spec.model_dump())
        with self._lock:
            params = [self.sampling_params(r) for r in requests]
            start = time.perf_counter()
            outputs = self.llm.chat([r.messages for r in requests], params, use_tqdm=False)
            latency = time.perf_counter() - start  # every request of the batch waited this long
        completions = []
        for out in outputs:
            sample = out.outputs[0]
            completions.append(
                Completion(
                    text=sample.text,
                    raw=sample.text,
                    prompt_tokens=len(out.prompt_token_ids or ()),
                    completion_tokens=len(sample.token_ids),
                    latency_s=latency,
                    finish_reason=sample.finish_reason,
                )
            )
        return completions

    def close(self) -> None:
        """Stop the engine (its worker processes) now rather than at interpreter exit."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None or not self._owns_engine:
            return
        engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None:
            engine_core.shutdown()
        del llm
        import gc

        gc.collect()
