"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM's server, llama.cpp, SGLang, ...) as a policy.

One retry policy (tenacity: exponential backoff on 429, 5xx, timeouts, dropped connections and
responses that are not a usable chat completion; the client's own retries are off), a per-call
timeout, bounded concurrency for batches, and latency and usage recorded per call. A call that still
fails after every attempt raises ``PolicyError`` naming the last fault: a failure never becomes an
action string.

The policy keeps one ``AsyncOpenAI`` client (its base URL and key) for its whole life, on one event
loop of its own that runs on a background thread: a client's connection pool belongs to the loop that
created it, so sync ``act`` calls and async batches from any loop all run there and reuse its
connections. ``close()`` closes the client and stops the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from policies.base import BatchPolicyError, ChatRequest, Completion, Policy, PolicyError, PolicySpec

T = TypeVar("T")

LOCAL_API_KEY = "EMPTY"
"""The key sent to a server given by ``base_url`` when no key is configured (local servers such as
vLLM accept any key)."""

TRANSIENT_STATUS = frozenset({408, 409, 429})


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: rate limits, server errors, timeouts, connection failures, and bodies
    that are not a usable chat completion (a truncated JSON body, an empty ``choices`` list): a
    server under load produces those too, and the next attempt usually succeeds."""
    if isinstance(
        exc, (openai.APITimeoutError, openai.APIConnectionError, InvalidResponse, json.JSONDecodeError)
    ):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in TRANSIENT_STATUS or exc.status_code >= 500
    return False


class InvalidResponse(Exception):
    """A response that arrived but is not a usable chat completion (retried like the other faults)."""


class _LoopThread:
    """An event loop running on a daemon thread: the one loop of a policy's client."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this loop and wait for it (from any other thread)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coro.close()
            raise RuntimeError("a blocking call from inside the policy's own event loop would deadlock")
        return self.submit(coro).result()

    def stop(self, last: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run ``last`` (e.g. closing the client), then stop the loop and its thread."""
        if last is not None:
            self.run(last)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def _stop_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Finalizer of a policy that was never closed: let its loop's thread end."""
    if not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)


class OpenAIChatPolicy(Policy):
    """Chat completions from an OpenAI-compatible server.

    ``max_retries`` is the number of retries after the first attempt; waits grow as
    ``backoff_initial * 2**k`` up to ``backoff_max`` seconds (or what a ``Retry-After`` header asks
    for, within the same cap). ``concurrency`` bounds the requests in flight during ``act_batch``.
    Sampling parameters left as ``None`` are not sent, so the server's defaults apply (some
    reasoning models accept no temperature at all).
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 4,
        concurrency: int = 8,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        extra_body: dict[str, Any] | None = None,
        strip_think: bool = True,
    ) -> None:
        super().__init__()
        if max_retries < 0 or concurrency < 1 or timeout <= 0:
            raise ValueError("need max_retries >= 0, concurrency >= 1 and timeout > 0")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if self.api_key is None:
            if self.base_url is None:
                raise ValueError("no API key: pass api_key= or set OPENAI_API_KEY (or give a local base_url)")
            self.api_key = LOCAL_API_KEY
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.concurrency = int(concurrency)
        self.backoff_initial = float(backoff_initial)
        self.backoff_max = float(backoff_max)
        self.extra_body = dict(extra_body or {})
        sampling = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        self.sampling = {k: v for k, v in sampling.items() if v is not None}
        self.seed = seed
        self.strip_think = strip_think
        # Made on first use, on the policy's own loop; see the module docstring.
        self._lock = threading.Lock()
        self._loop_thread: _LoopThread | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self.spec = PolicySpec(
            backend="openai",
            model=model,
            sampling=self.sampling,
            seed=seed,
            extra={"base_url": self.base_url, "timeout": self.timeout, "max_retries": self.max_retries},
        )

    # -- the client and its loop --------------------------------------------------------------------
    def _runner(self) -> _LoopThread:
        with self._lock:
            if self._loop_thread is None:
                self._loop_thread = _LoopThread(f"openai-policy-{self.model}")
                weakref.finalize(self, _stop_loop, self._loop_thread.loop)
            return self._loop_thread

    def _connection(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        """The policy's client and concurrency bound (called on the policy's loop only)."""
        if self._client is None or self._semaphore is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self.api_key, timeout=self.timeout, max_retries=0
            )
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return self._client, self._semaphore

    def close(self) -> None:
        """Close the client and stop the policy's loop (a later call starts new ones)."""
        with self._lock:
            runner, self._loop_thread = self._loop_thread, None
        if runner is None:
            return
        client, self._client, self._semaphore = self._client, None, None
        runner.stop(client.close() if client is not None else None)

    # -- sync call sites run on the policy's loop ----------------------------------------------------
    def act(self, observation: Mapping[str, Any]) -> str:
        return self._runner().run(self.act_batch([observation]))[0]

    def complete(self, request: ChatRequest) -> Completion:
        return self._runner().run(self.complete_batch([request]))[0]

    # -- batching -----------------------------------------------------------------------------------
    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        start = time.perf_counter()  # latency covers the whole call: the hop to the loop, waits, retries
        runner = self._runner()
        work = self._gather(list(requests), start)
        if asyncio.get_running_loop() is runner.loop:
            results = await work
        else:
            results = await asyncio.wrap_future(runner.submit(work))
        failures = {i: r for i, r in enumerate(results) if isinstance(r, BaseException)}
        if not failures:
            return list(results)  # type: ignore[arg-type]
        for r in failures.values():
            if not isinstance(r, PolicyError):  # cancellation or a bug: not a model failure
                raise r
        if len(requests) == 1:
            raise failures[0]
        first = failures[min(failures)]
        raise BatchPolicyError(
            f"{len(failures)} of {len(requests)} requests failed; first: {first}",
            failures=failures,  # type: ignore[arg-type]
            completions=[None if isinstance(r, BaseException) else r for r in results],
            spec=self.spec.model_dump(),
        )

    async def _gather(self, requests: list[ChatRequest], start: float) -> list[Completion | BaseException]:
        """Every request of a batch, on the policy's loop, within the concurrency bound."""
        client, semaphore = self._connection()
        return await asyncio.gather(
            *(self._complete_one(client, semaphore, r, start) for r in requests), return_exceptions=True
        )

    # -- one call -----------------------------------------------------------------------------------
    def request_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        """The ``chat.completions.create`` arguments for one request."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": request.messages}
        if "temperature" in self.sampling:
            kwargs["temperature"] = self.sampling["temperature"]
        if "top_p" in self.sampling:
            kwargs["top_p"] = self.sampling["top_p"]
        max_tokens = request.max_tokens if request.max_tokens is not None else self.sampling.get("max_tokens")
        if max_tokens is not None:
            kwargs["max_completion_tokens"] = int(max_tokens)
        if self.seed is not None:
            kwargs["seed"] = self.seed
        if request.json_schema is not None:
            kwargs["response_format"] = json_schema_format(request.json_schema)
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        return kwargs

    async def _complete_one(
        self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, request: ChatRequest, start: float
    ) -> Completion:
        kwargs = self.request_kwargs(request)
        attempts = 0
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    async with semaphore:
                        response = await client.chat.completions.create(**kwargs)
                    completion = _to_completion(response)
        except Exception as exc:
            where = f"after {attempts} attempt{'' if attempts == 1 else 's'}"
            raise PolicyError(
                f"openai call to {self.model!r} failed {where}: {type(exc).__name__}: {exc}",
                cause=exc,
                spec=self.spec.model_dump(),
            ) from exc
        return completion.model_copy(update={"latency_s": time.perf_counter() - start})

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff, or the server's ``Retry-After`` when it asks for longer (both capped)."""
        wait = self.backoff_initial * 2 ** (state.attempt_number - 1)
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = _retry_after(exc)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.backoff_max)


def json_schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``response_format`` for a JSON schema (the name must match ``[a-zA-Z0-9_-]{1,64}``)."""
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", str(schema.get("title") or "response"))[:64] or "response"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None


def _to_completion(response: Any) -> Completion:
    """Check that ``response`` is a chat completion with text, and convert it."""
    if isinstance(response, (str, bytes)):
        raise InvalidResponse(f"the body is not a JSON chat completion: {str(response)[:200]!r}")
    choices = getattr(response, "choices", None)
    if not choices:
        raise InvalidResponse("no choices in the response")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str):
        refusal = getattr(message, "refusal", None)
        raise InvalidResponse(f"no text content in the first choice (refusal: {refusal!r})")
    reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
    usage = getattr(response, "usage", None)
    raw = f"<think>{reasoning}</think>{content}" if isinstance(reasoning, str) and reasoning else content
    finish_reason = getattr(choices[0], "finish_reason", None)
    return Completion(
        text=content,
        raw=raw,
        thinking=reasoning if isinstance(reasoning, str) else "",
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
    )
