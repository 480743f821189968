"""The policy contract: anything that maps an observation (a chat prompt) to an action string.

Every backend implements one method, ``_complete_batch``: a list of chat requests in, a list of
completions out. ``act``/``act_batch`` (for env roles) and ``complete``/``complete_batch`` (for
judges that need structured JSON output) are built on it, so every backend batches, strips
thinking and records its calls the same way.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from osim_env.aio import run_sync
from osim_env.json_text import lone_surrogate_at
from osim_env.thinking import strip_thinking


class PolicyError(RuntimeError):
    """A model call that failed after its retries. Never returned as an action string."""

    def __init__(
        self, message: str, *, cause: BaseException | None = None, spec: Mapping[str, Any] | None = None
    ):
        super().__init__(message)
        self.cause = cause
        self.spec = dict(spec or {})


class ContextLengthError(PolicyError):
    """A prompt that fills the model's context: refused before generation, as an API server does.

    Never retried (the same prompt never fits); a judge records it as its judgment's error.
    """

    def __init__(self, prompt_tokens: int, context_tokens: int, *, spec: Mapping[str, Any] | None = None):
        super().__init__(
            f"the prompt is {prompt_tokens:,} tokens: it leaves no room for an answer in the model's "
            f"context of {context_tokens:,} tokens",
            spec=spec,
        )
        self.prompt_tokens = prompt_tokens
        self.context_tokens = context_tokens


class BatchPolicyError(PolicyError):
    """Some requests of a batch failed after their retries; the others succeeded.

    ``failures`` maps a request's index to its error and ``completions`` holds the successful
    completions (``None`` where the request failed), so a runner can fail only the episodes whose
    call failed.
    """

    def __init__(
        self,
        message: str,
        *,
        failures: Mapping[int, PolicyError],
        completions: Sequence[Completion | None],
        spec: Mapping[str, Any] | None = None,
    ):
        first = failures[min(failures)] if failures else None
        super().__init__(message, cause=first, spec=spec)
        self.failures = dict(failures)
        self.completions = list(completions)


class PolicySpec(BaseModel):
    """A stable, JSON-serializable description of a policy, stored with every episode."""

    model_config = ConfigDict(frozen=True)

    backend: str
    model: str = ""
    sampling: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ChatRequest(BaseModel):
    """One generation request: chat messages plus optional structured-output schema."""

    messages: list[dict[str, Any]]
    json_schema: dict[str, Any] | None = None
    max_tokens: int | None = None


class Completion(BaseModel):
    """One generation: the visible text, the raw text (with thinking), usage and latency.

    ``finish_reason`` is ``"stop"`` (the model ended its answer), ``"length"`` (cut at the token budget
    or at the end of the model's context) or ``None`` when the backend does not say.
    """

    text: str
    raw: str
    thinking: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    cached: bool = False
    finish_reason: str | None = None


class ModelCall(BaseModel):
    """A record of one model call, for the store's model_calls table (wall-clock lives here only)."""

    spec: dict[str, Any]
    latency_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cached: bool = False
    error: str | None = None


def messages_of(observation: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The chat messages of an env observation (or a bare message list)."""
    if isinstance(observation, Mapping):
        if "messages" not in observation:
            raise KeyError("an observation must carry chat messages under 'messages'")
        return [dict(m) for m in observation["messages"]]
    return [dict(m) for m in observation]


class Policy(ABC):
    """Base class of all policies. Subclasses implement ``_complete_batch`` and set ``spec``."""

    spec: PolicySpec
    strip_think: bool = True

    def __init__(self) -> None:
        self.calls: list[ModelCall] = []

    @abstractmethod
    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Generate one completion per request (one batched call where the backend allows it)."""

    # -- generation ---------------------------------------------------------------------------------
    async def complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        if not requests:
            return []
        try:
            completions = await self._complete_batch(list(requests))
        except BatchPolicyError as exc:
            for i, c in enumerate(exc.completions):
                failure = exc.failures.get(i)
                self.calls.append(self._call_record(c, error=None if failure is None else str(failure)))
            raise
        except PolicyError as exc:
            self.calls.extend(self._call_record(None, error=str(exc)) for _ in requests)
            raise
        if len(completions) != len(requests):
            raise PolicyError(
                f"{self.spec.backend} returned {len(completions)} completions for {len(requests)} requests",
                spec=self.spec.model_dump(),
            )
        checked: list[Completion | None] = []
        failures: dict[int, PolicyError] = {}
        for i, c in enumerate(completions):
            at = lone_surrogate_at(c.raw)  # an API client's JSON decoder can make one from a \ud83d escape
            if at is not None:  # nothing downstream (store, tokenizer, hash) can take it
                failures[i] = PolicyError(
                    f"the model's output is not Unicode text: half of a surrogate pair ({c.raw[at]!a}) "
                    f"at index {at}",
                    spec=self.spec.model_dump(),
                )
                self.calls.append(self._call_record(c, error=str(failures[i])))
                checked.append(None)
                continue
            if self.strip_think and not c.thinking:
                visible, thinking, _ = strip_thinking(c.raw)
                c = c.model_copy(update={"text": visible, "thinking": thinking})
            checked.append(c)
            self.calls.append(self._call_record(c))
        if failures:
            raise BatchPolicyError(
                f"{len(failures)} of {len(checked)} outputs are not Unicode text",
                failures=failures,
                completions=checked,
                spec=self.spec.model_dump(),
            )
        return [c for c in checked if c is not None]

    def _call_record(self, c: Completion | None, error: str | None = None) -> ModelCall:
        """The store's record of one call (a failed call keeps its error and no usage)."""
        return ModelCall(
            spec=self.spec.model_dump(mode="json"),
            latency_s=None if c is None else c.latency_s,
            prompt_tokens=None if c is None else c.prompt_tokens,
            completion_tokens=None if c is None else c.completion_tokens,
            cached=False if c is None else c.cached,
            error=error,
        )

    def complete(self, request: ChatRequest) -> Completion:
        return run_sync(self.complete_batch([request]))[0]

    # -- acting -------------------------------------------------------------------------------------
    async def act_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        completions = await self.complete_batch([ChatRequest(messages=messages_of(o)) for o in observations])
        return [c.text for c in completions]

    def act(self, observation: Mapping[str, Any]) -> str:
        return run_sync(self.act_batch([observation]))[0]

    def __call__(self, observation: Mapping[str, Any]) -> str:
        return self.act(observation)

    def pop_calls(self) -> list[ModelCall]:
        calls, self.calls = self.calls, []
        return calls

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release backend resources (engines, clients)."""


class LocalPolicy(Policy):
    """A backend that generates in this process (transformers, vLLM's engine).

    Generation blocks for seconds, so it runs on a worker thread to keep the runner's event loop
    responsive; any backend exception becomes a ``PolicyError`` naming the backend.

    A prompt longer than the model's context (``context_tokens``) is refused with a
    ``ContextLengthError`` that gives both lengths, as an API server refuses it; the other requests of
    the batch are still generated (``BatchPolicyError``).
    """

    @abstractmethod
    def _complete_sync(self, requests: list[ChatRequest]) -> list[Completion]:
        """Generate one completion per request in one batched call."""

    @abstractmethod
    def prompt_tokens(self, request: ChatRequest) -> int:
        """How many tokens the rendered prompt of ``request`` has."""

    @property
    @abstractmethod
    def context_tokens(self) -> int | None:
        """The model's context length in tokens (``None``: unknown, prompts are not checked)."""

    def _complete_fitting(self, requests: list[ChatRequest]) -> list[Completion]:
        """Generate the requests whose prompt fits the context; refuse the others."""
        limit = self.context_tokens
        too_long: dict[int, PolicyError] = {}
        if limit is not None:
            for i, request in enumerate(requests):
                n = self.prompt_tokens(request)
                if n >= limit:  # not even one new token fits
                    too_long[i] = ContextLengthError(n, limit, spec=self.spec.model_dump())
        fitting = [r for i, r in enumerate(requests) if i not in too_long]
        generated = iter(self._complete_sync(fitting) if fitting else [])
        if not too_long:
            return list(generated)
        if len(requests) == 1:
            raise too_long[0]
        completions = [None if i in too_long else next(generated) for i in range(len(requests))]
        raise BatchPolicyError(
            f"{len(too_long)} of {len(requests)} prompts do not fit the model's context; "
            f"first: {too_long[min(too_long)]}",
            failures=too_long,
            completions=completions,
            spec=self.spec.model_dump(),
        )

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        try:
            return await asyncio.to_thread(self._complete_fitting, list(requests))
        except PolicyError:
            raise
        except Exception as exc:
            raise PolicyError(
                f"{self.spec.backend} generation failed: {type(exc).__name__}: {exc}",
                cause=exc,
                spec=self.spec.model_dump(),
            ) from exc
