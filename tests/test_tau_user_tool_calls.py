"""policies.tool_calls: native OpenAI tool calls become ``<tool_call>`` text actions, and the observation's
``tools`` reach the server natively (docs/tasks.md#tau-user-your-agent).

The tiny local model cannot produce tool calls, so the server here is a fake OpenAI endpoint
(``FakeToolServer``: a real HTTP server on localhost, speaking the chat-completions wire format) whose
replies are scripted; it records the request bodies so the test sees what the client sent."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from openai.types.chat import ChatCompletionMessage
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import osim_env
from osim_env.wrappers import AutoPlay
from policies import ScriptedPolicy
from policies.base import PolicyError
from policies.tool_calls import ToolCallingPolicy, tool_calls_text

ENV_ID = "soul/tau-user-v0"
if ENV_ID not in osim_env.registry():  # until the entry point is installed
    osim_env.register(ENV_ID, "scenarios.tau_user.env:env")


def completion(content: str | None = None, tool_calls: list[dict] | None = None) -> dict:
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def native_call(name: str, arguments: str) -> dict:
    return {"id": f"call_{name}", "type": "function", "function": {"name": name, "arguments": arguments}}


class FakeToolServer:
    """A localhost OpenAI-compatible endpoint with scripted replies (status, body), the last repeating."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict]] = []
        self.bodies: list[dict] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def chat(self, request: Request) -> JSONResponse:
        self.bodies.append(await request.json())
        status, body = self.replies[min(len(self.bodies), len(self.replies)) - 1]
        return JSONResponse(body, status_code=status)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeToolServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server() -> Iterator[FakeToolServer]:
    with FakeToolServer() as running:
        yield running


def test_tool_calls_text_from_openai_messages():
    message = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "content": "Checking. ",
            "tool_calls": [
                native_call("get_rental", '{"rental_id": "R1001"}'),
                native_call("transfer_to_human_agents", ""),
                native_call("find_customer", "{oops"),
            ],
        }
    )
    text = tool_calls_text(message.content, message.tool_calls)
    assert text.splitlines() == [
        "Checking.",
        '<tool_call>{"arguments": {"rental_id": "R1001"}, "name": "get_rental"}</tool_call>',
        '<tool_call>{"arguments": {}, "name": "transfer_to_human_agents"}</tool_call>',
        '<tool_call>{"arguments": "{oops", "name": "find_customer"}</tool_call>',
    ]
    assert tool_calls_text("Hello!", None) == "Hello!"


def test_agent_with_native_tools_plays_tau_user(server):
    server.replies = [
        (200, completion(tool_calls=[native_call("get_rental", '{"rental_id": "R1001"}')])),
        (200, completion(tool_calls=[native_call("find_customer", "{oops")])),
        (200, completion("Your rental R1001 ends on May 5.")),
    ]
    agent = ToolCallingPolicy("fake", base_url=server.url, temperature=0)
    env = AutoPlay(osim_env.make(ENV_ID, scenario=0, judge=False), {"agent": agent})
    env.reset(seed=0)
    user = ScriptedPolicy(["when does my rental end?", "###STOP###"], cycle=False)
    for _ in env.agent_iter():
        _, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else user.act(env.observe("user")))
    log = env.unwrapped.log
    assert [e.kind for e in log if e.source == "agent"] == [
        "message",
        "tool_call",
        "tool_result",
        "invalid_action",
        "message",
    ]
    assert json.loads(next(e for e in log if e.kind == "tool_result").text)["end_date"] == "2026-05-05"
    first = server.bodies[0]
    assert [t["function"]["name"] for t in first["tools"]][:2] == ["find_customer", "get_rental"]
    assert first["temperature"] == 0 and first["messages"][0]["role"] == "system"
    assert "<tool_call>" in server.bodies[1]["messages"][-2]["content"]  # its own call, in text form
    assert env.unwrapped.status == "unjudged" and env.unwrapped.termination == "user stop"
    assert [c.completion_tokens for c in agent.pop_calls()] == [5, 5, 5]


def test_a_failing_endpoint_is_a_policy_error_and_the_episode_fails(server):
    server.replies = [(500, {"error": {"message": "down"}})]
    agent = ToolCallingPolicy("fake", base_url=server.url, max_retries=1)
    with pytest.raises(PolicyError):
        agent.act({"messages": [{"role": "user", "content": "hi"}], "tools": []})
    assert len(server.bodies) == 2 and "tools" not in server.bodies[0]  # one retry; no empty tool list
    env = AutoPlay(osim_env.make(ENV_ID, scenario=1, judge=False), {"agent": agent})
    env.reset(seed=0)
    for _ in env.agent_iter():
        _, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else "hi, cancel my booking please")
    assert env.unwrapped.status == "failed" and "PolicyError" in env.unwrapped.termination
    assert [e.source for e in env.unwrapped.log if e.kind == "message"] == ["agent", "user"]
