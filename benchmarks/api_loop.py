"""API-policy loop overhead: a Sotopia episode in a plain loop with ``OpenAIChatPolicy`` against a
local stub server, vs a bare ``openai`` client calling the same stub in a loop.

``StubOpenAIServer`` is a stub, not a model: a small in-process HTTP server (``http.server``, HTTP/1.1
keep-alive) that answers every ``/v1/chat/completions`` request at once with the same Sotopia speak
action. Both sides pay the same stub cost, so the difference is what osim adds per turn: the env
(parsing, the event log, rendering observations; measured alone with a scripted policy), the policy
(request building, the hop to its event loop, retries bookkeeping, the call record) and the wrappers.

The episode is ``soul/sotopia-v0`` with ``max_turns`` turns (20 by default), no judge, partner played by
``AutoPlay`` and the other role by the loop, both with ``OpenAIChatPolicy`` (synchronous ``act``). Prints
one JSON object: medians over interleaved rounds of the per-turn wall time of the episode loop, the
per-call time of the bare client (sync ``openai.OpenAI``, made once), the per-turn time of the env
alone, ``ratio`` (loop turn / bare call) and ``overhead_ms`` = loop turn - bare call - env turn (the
framework's own cost per turn; target < 2 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai

import osim_env
from osim_env.wrappers import AutoPlay
from policies import OpenAIChatPolicy, ScriptedPolicy

ACTION = '{"action_type": "speak", "argument": "I could go to 120 if you throw in the records."}'
MESSAGES = [
    {"role": "system", "content": "You are Greta, selling a record player."},
    {"role": "user", "content": "Turn 1: the buyer says hello. Your action as JSON:"},
]


class StubOpenAIServer:
    """A stub OpenAI-compatible endpoint on 127.0.0.1: every chat request gets ``ACTION`` at once."""

    def __init__(self) -> None:
        body = {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 0,
            "model": "stub",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ACTION}}
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        payload = json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connection

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and the
                # client's delayed ACK add ~40 ms to every response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> StubOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class RecordingScript(ScriptedPolicy):
    """A scripted policy that keeps the observations it was asked about (the bare client replays them)."""

    def __init__(self, seen: list[list[dict[str, Any]]]) -> None:
        super().__init__([ACTION])
        self.seen = seen

    def act(self, observation: Mapping[str, Any]) -> str:
        self.seen.append([dict(m) for m in observation["messages"]])
        return super().act(observation)


def episode_turn_ms(make_policy: Callable[[], Any], turns: int, episodes: int) -> float:
    """Mean wall time per turn of ``episodes`` plain-loop Sotopia episodes (policies made once)."""
    partner, me = make_policy(), make_policy()
    env = AutoPlay(
        osim_env.make("soul/sotopia-v0", scenario=0, judge=False, max_turns=turns), {"agent2": partner}
    )
    played = 0
    start = time.perf_counter()
    for seed in range(episodes):
        env.reset(seed=seed)
        for agent in env.agent_iter():
            _, _, terminated, truncated, _ = env.last()
            env.step(None if terminated or truncated else me.act(env.observe(agent)))
        record = env.unwrapped.episode_record()
        if record.status == "failed":
            raise RuntimeError(f"the benchmark episode failed: {record.termination}")
        played += sum(1 for e in record.events if e.kind == "message")
    elapsed = time.perf_counter() - start
    for policy in (partner, me):
        policy.close()
    return 1000 * elapsed / played


def bare_call_ms(base_url: str, prompts: list[list[dict[str, Any]]]) -> float:
    """Mean wall time of one call of a bare sync ``openai`` client (made once) on the stub, sending the
    episode's own prompts."""
    client = openai.OpenAI(base_url=base_url, api_key="stub", max_retries=0)
    start = time.perf_counter()
    for messages in prompts:
        response = client.chat.completions.create(model="stub", messages=messages)  # type: ignore[arg-type]
        assert response.choices[0].message.content == ACTION
    elapsed = time.perf_counter() - start
    client.close()
    return 1000 * elapsed / len(prompts)


def bare_async_call_ms(base_url: str, prompts: list[list[dict[str, Any]]]) -> float:
    """The same with a bare ``openai.AsyncOpenAI`` client on one event loop (what the policy uses)."""

    async def calls() -> float:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="stub", max_retries=0)
        start = time.perf_counter()
        for messages in prompts:
            response = await client.chat.completions.create(model="stub", messages=messages)  # type: ignore[arg-type]
            assert response.choices[0].message.content == ACTION
        elapsed = time.perf_counter() - start
        await client.close()
        return 1000 * elapsed / len(prompts)

    return asyncio.run(calls())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20, help="turns per Sotopia episode (max_turns)")
    parser.add_argument("--episodes", type=int, default=5, help="episodes per round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (the median is reported)")
    args = parser.parse_args()
    with StubOpenAIServer() as stub:

        def api_policy() -> OpenAIChatPolicy:
            return OpenAIChatPolicy("stub", base_url=stub.base_url, api_key="stub")

        prompts: list[list[dict[str, Any]]] = []

        def scripted() -> ScriptedPolicy:
            return RecordingScript(prompts)

        episode_turn_ms(api_policy, args.turns, 1)  # warm-up
        env_turn_ms = episode_turn_ms(scripted, args.turns, args.episodes)  # and the prompts to replay
        bare_call_ms(stub.base_url, prompts[:10])
        loop, bare, bare_async, env_only = [], [], [], []
        # Interleave the four so that background load hits each alike; report medians.
        for _ in range(args.rounds):
            loop.append(episode_turn_ms(api_policy, args.turns, args.episodes))
            bare.append(bare_call_ms(stub.base_url, prompts))
            bare_async.append(bare_async_call_ms(stub.base_url, prompts))
            env_only.append(env_turn_ms)
            prompts.clear()
            env_turn_ms = episode_turn_ms(scripted, args.turns, args.episodes)
    loop_ms, bare_ms, async_ms, env_ms = (statistics.median(x) for x in (loop, bare, bare_async, env_only))
    print(
        json.dumps(
            {
                "loop_turn_ms": round(loop_ms, 3),
                "bare_client_call_ms": round(bare_ms, 3),
                "bare_async_client_call_ms": round(async_ms, 3),
                "env_turn_ms": round(env_ms, 3),
                "ratio": round(loop_ms / bare_ms, 3),
                "overhead_ms": round(loop_ms - bare_ms - env_ms, 3),
                "overhead_over_async_client_ms": round(loop_ms - async_ms - env_ms, 3),
                "turns": args.turns,
                "episodes": args.episodes,
                "rounds": args.rounds,
            }
        )
    )


if __name__ == "__main__":
    main()
