"""Native tool calling for roles that act through tool calls (tau-user's ``agent``,
docs/tasks.md#tau-user-your-agent).

osim actions are strings: a tool call is a ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
block. An OpenAI-compatible model with native tool calling answers with ``message.tool_calls`` instead;
``tool_calls_text`` turns such a message into the text form, and ``ToolCallingPolicy`` sends the
observation's ``tools`` (OpenAI function schemas) with the request, so the model sees them natively.

``ToolCallingPolicy`` acts on whole observations (``act_batch(observations)``) because the tools live
next to the chat, not in it; the runner and ``AutoPlay`` both call it that way. Retries (429, 5xx,
timeouts, dropped connections) are the ``openai`` client's own, with its backoff; a call that still fails
raises ``PolicyError`` and is never returned as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import openai

from osim_env.aio import run_sync
from policies.base import ModelCall, PolicyError, PolicySpec, messages_of

LOCAL_API_KEY = "EMPTY"  # what local OpenAI-compatible servers accept


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def tool_calls_text(content: str | None, tool_calls: Sequence[Any] | None) -> str:
    """A chat message with native tool calls as an osim action: the text, then one ``<tool_call>`` block
    per call. Arguments that are not a JSON object are passed on as the string they were (the env then
    reports the call as malformed, to the agent only)."""
    parts = [content.strip()] if content and content.strip() else []
    for call in tool_calls or ():
        function = _field(call, "function")
        name, arguments = _field(function, "name"), _field(function, "arguments")
        if isinstance(arguments, str):
            with contextlib.suppress(ValueError, RecursionError):
                arguments = json.loads(arguments) if arguments.strip() else {}
        parts.append(
            f"<tool_call>{json.dumps({'name': name, 'arguments': arguments}, sort_keys=True)}</tool_call>"
        )
    return "\n".join(parts)


class ToolCallingPolicy:
    """An OpenAI-compatible chat model that gets the observation's tools natively and answers with text
    or ``<tool_call>`` blocks (``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` as for ``OpenAIChatPolicy``)."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        concurrency: int = 8,
    ) -> None:
        if max_retries < 0 or concurrency < 1 or timeout <= 0:
            raise ValueError("need max_retries >= 0, concurrency >= 1 and timeout > 0")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if self.api_key is None:
            if self.base_url is None:
                raise ValueError("no API key: pass api_key= or set OPENAI_API_KEY (or give a local base_url)")
            self.api_key = LOCAL_API_KEY
        self.timeout, self.max_retries, self.concurrency = float(timeout), int(max_retries), int(concurrency)
        sampling = {"temperature": temperature, "max_completion_tokens": max_tokens}
        self.sampling = {k: v for k, v in sampling.items() if v is not None}
        self.spec = PolicySpec(
            backend="openai-tools",
            model=model,
            sampling=self.sampling,
            extra={"base_url": self.base_url, "timeout": self.timeout, "max_retries": self.max_retries},
        )
        self.calls: list[ModelCall] = []

    def request_kwargs(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages_of(observation), **self.sampling}
        tools = observation.get("tools") if isinstance(observation, Mapping) else None
        if tools:
            kwargs["tools"] = list(tools)
        return kwargs

    async def act_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        # One client per batch, on the caller's loop (an async client must not outlive its loop).
        async with openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, timeout=self.timeout, max_retries=self.max_retries
        ) as client:
            semaphore = asyncio.Semaphore(self.concurrency)
            return list(await asyncio.gather(*(self._act_one(client, semaphore, o) for o in observations)))

    async def _act_one(
        self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, observation: Mapping[str, Any]
    ) -> str:
        start = time.perf_counter()
        try:
            async with semaphore:
                response = await client.chat.completions.create(**self.request_kwargs(observation))
            message = response.choices[0].message
        except Exception as exc:
            self.calls.append(self._record(None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"))
            raise PolicyError(
                f"openai call to {self.model!r} failed: {type(exc).__name__}: {exc}",
                cause=exc,
                spec=self.spec.model_dump(),
            ) from exc
        self.calls.append(self._record(response, time.perf_counter() - start, None))
        return tool_calls_text(message.content, message.tool_calls)

    def _record(self, response: Any, latency: float, error: str | None) -> ModelCall:
        usage = getattr(response, "usage", None)
        return ModelCall(
            spec=self.spec.model_dump(mode="json"),
            latency_s=latency,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            error=error,
        )

    def act(self, observation: Mapping[str, Any]) -> str:
        return run_sync(self.act_batch([observation]))[0]

    def __call__(self, observation: Mapping[str, Any]) -> str:
        return self.act(observation)

    def pop_calls(self) -> list[ModelCall]:
        calls, self.calls = self.calls, []
        return calls
