"""OpenAIChatPolicy keeps one client and one event loop for its life, and records whole-call latency.

Against ``FakeFaultyOpenAIServer`` (a deliberately fake endpoint, see test_policies_openai_faults.py).
Client reuse is checked by counting ``AsyncOpenAI`` constructions and new event loops, never by timing;
the latency check is a lower bound that follows from a sleep inside the call, not a speed claim.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest
from test_policies_openai_faults import OBS, OK_TEXT, FakeFaultyOpenAIServer, make_policy

from policies import ChatRequest


class CountingClients:
    """Wraps ``openai.AsyncOpenAI``: counts the clients made and closed; ``build_s`` slows construction."""

    def __init__(self, build_s: float = 0.0) -> None:
        self.built = 0
        self.closed = 0
        self.build_s = build_s
        real = openai.AsyncOpenAI
        counter = self

        class Client(real):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                counter.built += 1
                time.sleep(counter.build_s)
                super().__init__(*args, **kwargs)

            async def close(self) -> None:
                counter.closed += 1
                await super().close()

        self.cls = Client


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> CountingClients:
    counting = CountingClients()
    monkeypatch.setattr(openai, "AsyncOpenAI", counting.cls)
    return counting


def test_one_client_serves_sync_and_async_calls_until_close(clients: CountingClients) -> None:
    with FakeFaultyOpenAIServer() as server:
        policy = make_policy(server)
        assert [policy.act(OBS) for _ in range(3)] == [OK_TEXT] * 3
        assert policy.complete(ChatRequest(messages=OBS["messages"])).text == OK_TEXT
        for _ in range(2):  # two callers' loops, one after the other
            assert asyncio.run(policy.act_batch([OBS, OBS])) == [OK_TEXT] * 2
        assert (clients.built, clients.closed) == (1, 0)
        policy.close()
        assert (clients.built, clients.closed) == (1, 1)
        assert policy.act(OBS) == OK_TEXT  # a closed policy starts a new client on its next call
        policy.close()
    assert (clients.built, clients.closed) == (2, 2)
    assert len(server.requests) == 3 + 1 + 2 * 2 + 1
    assert all(c.error is None for c in policy.pop_calls())


def test_sync_calls_share_one_long_lived_event_loop(
    clients: CountingClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[asyncio.AbstractEventLoop] = []
    new_event_loop = asyncio.events.new_event_loop

    def counting_new_event_loop() -> asyncio.AbstractEventLoop:
        made.append(new_event_loop())
        return made[-1]

    monkeypatch.setattr(asyncio.events, "new_event_loop", counting_new_event_loop)  # asyncio.run's
    monkeypatch.setattr(asyncio, "new_event_loop", counting_new_event_loop)
    with FakeFaultyOpenAIServer() as server:
        policy = make_policy(server)
        for _ in range(5):
            assert policy.act(OBS) == OK_TEXT
        policy.close()
    assert len(made) == 1


def test_latency_covers_the_whole_call_including_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = CountingClients(build_s=0.2)
    monkeypatch.setattr(openai, "AsyncOpenAI", slow.cls)
    with FakeFaultyOpenAIServer() as server:
        policy = make_policy(server)
        before = time.perf_counter()
        policy.act(OBS)
        elapsed = time.perf_counter() - before
        policy.close()
    [call] = policy.pop_calls()
    assert call.latency_s is not None
    assert 0.2 <= call.latency_s <= elapsed  # the client's construction is part of the call


def test_a_blocking_call_from_the_policys_own_loop_is_refused(clients: CountingClients) -> None:
    with FakeFaultyOpenAIServer() as server:
        policy = make_policy(server)

        async def nested() -> str:
            return policy.act(OBS)

        with pytest.raises(RuntimeError, match="deadlock"):
            policy._runner().run(nested())
        policy.close()
