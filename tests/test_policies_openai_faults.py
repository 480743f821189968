"""OpenAIChatPolicy against a fake server that injects the faults a real server cannot be made to.

``FakeFaultyOpenAIServer`` is a deliberately fake OpenAI-compatible endpoint: each request gets the
next scripted behaviour (429, 500, a timeout, a dropped connection, malformed JSON, no choices,
or a normal answer). The tests count requests to check the retry budget and check that no fault
ever comes back as an action string.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

import osim_env
from osim.runner import Runner, jobs_for
from osim_env.wrappers import AutoPlay
from policies import BatchPolicyError, ChatRequest, OpenAIChatPolicy, PolicyError, ScriptedPolicy
from policies.openai_chat import InvalidResponse
from replays import ReplayStore

OK_TEXT = "Fine, let us meet at noon."
OBS = {"messages": [{"role": "system", "content": "You are Greta."}, {"role": "user", "content": "Hello?"}]}

# "ok", "429", "500", "400", "timeout", "drop", "malformed", "no_choices", "slow_ok", or
# "half_surrogate" (an answer whose JSON holds a "\ud83d" escape with no second half)
Behaviour = str
HALF_SURROGATE_TEXT = '{"action_type": "speak", "argument": "Deal \ud83d"}'  # a lone high surrogate


class FakeFaultyOpenAIServer:
    """A fake ``/v1/chat/completions`` endpoint on 127.0.0.1 with scripted faults.

    ``script`` is consumed one behaviour per request; after it ends ``default`` applies. ``rule``
    (request body -> behaviour or None) takes precedence when it returns a behaviour. The server
    counts requests and the largest number handled at the same time.
    """

    def __init__(
        self,
        script: Iterable[Behaviour] = (),
        *,
        default: Behaviour = "ok",
        rule: Callable[[dict[str, Any]], Behaviour | None] | None = None,
        stall_s: float = 3.0,
        slow_s: float = 0.2,
    ) -> None:
        self.script = list(script)
        self.default = default
        self.rule = rule
        self.stall_s = stall_s
        self.slow_s = slow_s
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeFaultyOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _next(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            self.requests.append(body)
            ruled = self.rule(body) if self.rule else None
            if ruled is not None:
                return ruled
            return self.script.pop(0) if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                behaviour = fake._next(body)
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._respond(behaviour, body)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _respond(self, behaviour: Behaviour, body: dict[str, Any]) -> None:
                if behaviour == "drop":  # close the socket without any response
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if behaviour == "timeout":
                    time.sleep(fake.stall_s)
                    behaviour = "ok"
                if behaviour == "slow_ok":
                    time.sleep(fake.slow_s)
                    behaviour = "ok"
                if behaviour in ("429", "500", "400"):
                    error = {"error": {"message": f"fake {behaviour}", "type": "fake", "code": behaviour}}
                    self._send(int(behaviour), json.dumps(error).encode())
                elif behaviour == "malformed":
                    self._send(200, b'{"id": "x", "choices": [{"message": {"content": "trunc')
                elif behaviour == "half_surrogate":  # json.dumps writes the lone surrogate as \ud83d
                    self._send(200, json.dumps(_chat_completion(body, HALF_SURROGATE_TEXT)).encode())
                elif behaviour == "no_choices":
                    self._send(200, json.dumps(_chat_completion(body, None)).encode())
                else:
                    self._send(200, json.dumps(_chat_completion(body, OK_TEXT)).encode())

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                    pass

        return Handler


def _chat_completion(body: dict[str, Any], text: str | None) -> dict[str, Any]:
    choices = (
        []
        if text is None
        else [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]
    )
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "fake"),
        "choices": choices,
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def make_policy(server: FakeFaultyOpenAIServer, **kwargs: Any) -> OpenAIChatPolicy:
    options: dict[str, Any] = {"timeout": 1.0, "max_retries": 3, "backoff_initial": 0.01, "backoff_max": 0.05}
    options.update(kwargs)
    return OpenAIChatPolicy("fake-model", base_url=server.base_url, api_key="test-key", **options)


@pytest.mark.parametrize(
    "faults",
    [["429"], ["500"], ["timeout"], ["drop"], ["429", "500", "drop"]],
    ids=["429", "500", "timeout", "dropped-connection", "mixed"],
)
def test_transient_faults_are_retried_then_succeed(faults: list[str]) -> None:
    with FakeFaultyOpenAIServer(faults, stall_s=2.0) as server:
        policy = make_policy(server, timeout=0.5)
        action = policy.act(OBS)
    assert action == OK_TEXT
    assert len(server.requests) == len(faults) + 1
    [call] = policy.pop_calls()
    assert call.error is None
    assert (call.prompt_tokens, call.completion_tokens) == (11, 7)
    assert call.latency_s is not None and call.latency_s > 0


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("429", openai.RateLimitError),
        ("500", openai.InternalServerError),
        ("timeout", openai.APITimeoutError),
        ("drop", openai.APIConnectionError),
    ],
)
def test_retry_budget_is_respected_then_policy_error(fault: str, cause: type[BaseException]) -> None:
    with FakeFaultyOpenAIServer(default=fault, stall_s=1.0) as server:
        policy = make_policy(server, max_retries=2, timeout=0.3)
        with pytest.raises(PolicyError) as info:
            policy.act(OBS)
    assert len(server.requests) == 3  # one attempt plus max_retries retries, never more
    assert isinstance(info.value.cause, cause)
    assert "after 3 attempts" in str(info.value)
    [call] = policy.pop_calls()
    assert call.error is not None and call.latency_s is None


@pytest.mark.parametrize(
    "faults",
    [["malformed"], ["no_choices"], ["malformed", "no_choices", "429"]],
    ids=["truncated-json", "empty-choices", "mixed"],
)
def test_invalid_bodies_are_transient_and_retried_then_succeed(faults: list[str]) -> None:
    with FakeFaultyOpenAIServer(faults) as server:
        policy = make_policy(server)
        action = policy.act(OBS)
    assert action == OK_TEXT
    assert len(server.requests) == len(faults) + 1
    [call] = policy.pop_calls()
    assert call.error is None


@pytest.mark.parametrize(
    ("fault", "cause", "message"),
    [
        ("malformed", json.JSONDecodeError, "JSONDecodeError"),
        ("no_choices", InvalidResponse, "no choices"),
    ],
)
def test_an_invalid_body_through_every_attempt_fails_naming_the_last_fault(
    fault: str, cause: type[BaseException], message: str
) -> None:
    with FakeFaultyOpenAIServer(["500", "429", fault], default=fault) as server:
        policy = make_policy(server, max_retries=3)
        with pytest.raises(PolicyError, match=message) as info:
            policy.act(OBS)
    assert len(server.requests) == 4  # the same budget as rate limits and server errors
    assert isinstance(info.value.cause, cause)
    assert "after 4 attempts" in str(info.value)
    assert OK_TEXT not in str(info.value)


def test_client_errors_fail_without_retry() -> None:
    with FakeFaultyOpenAIServer(default="400") as server:
        policy = make_policy(server)
        with pytest.raises(PolicyError, match="after 1 attempt") as info:
            policy.act(OBS)
    assert len(server.requests) == 1
    assert isinstance(info.value.cause, openai.BadRequestError)


def test_a_flaky_partner_finishes_the_episode() -> None:
    """Faults that a retry fixes (an empty choices list, a truncated body) never fail an episode."""
    with FakeFaultyOpenAIServer(["no_choices", "ok", "malformed", "ok", "no_choices"]) as server:
        partner = make_policy(server, max_retries=2)
        env = AutoPlay(
            osim_env.make("soul/sotopia-v0", scenario=0, judge=False, max_turns=6), {"agent2": partner}
        )
        env.reset(seed=0)
        me = ScriptedPolicy(['{"action_type": "speak", "argument": "Is the record player still for sale?"}'])
        for agent in env.agent_iter():
            _, _, terminated, truncated, _ = env.last()
            env.step(None if terminated or truncated else me.act(env.observe(agent)))
        partner.close()
    record = env.unwrapped.episode_record()
    assert record.status != "failed", record.termination
    assert [e.text for e in record.events if e.source == "agent2" and e.kind == "message"] == [OK_TEXT] * 3
    assert len(server.requests) == 6


def test_no_retries_means_one_request() -> None:
    with FakeFaultyOpenAIServer(default="500") as server, pytest.raises(PolicyError):
        make_policy(server, max_retries=0).act(OBS)
    assert len(server.requests) == 1


def test_act_batch_bounds_concurrency() -> None:
    with FakeFaultyOpenAIServer(default="slow_ok", slow_s=0.3) as server:
        policy = make_policy(server, concurrency=3)
        actions = asyncio.run(policy.act_batch([OBS] * 10))
    assert actions == [OK_TEXT] * 10
    assert len(server.requests) == 10
    assert server.max_in_flight == 3
    assert len(policy.pop_calls()) == 10


def test_concurrent_batches_share_one_bound() -> None:
    async def two_batches(policy: OpenAIChatPolicy) -> list[list[str]]:
        return list(await asyncio.gather(policy.act_batch([OBS] * 4), policy.act_batch([OBS] * 4)))

    with FakeFaultyOpenAIServer(default="slow_ok", slow_s=0.3) as server:
        policy = make_policy(server, concurrency=2)
        results = asyncio.run(two_batches(policy))
    assert results == [[OK_TEXT] * 4] * 2
    assert server.max_in_flight == 2


def test_batch_failure_names_the_failed_requests_and_keeps_the_others() -> None:
    def fail_marked(body: dict[str, Any]) -> str | None:
        return "500" if "FAIL" in body["messages"][-1]["content"] else None

    observations = [
        {"messages": [{"role": "user", "content": text}]} for text in ("a", "FAIL b", "c", "FAIL d")
    ]
    with FakeFaultyOpenAIServer(rule=fail_marked) as server:
        policy = make_policy(server, max_retries=1)
        with pytest.raises(BatchPolicyError) as info:
            asyncio.run(policy.act_batch(observations))
    error = info.value
    assert sorted(error.failures) == [1, 3]
    assert all(isinstance(e.cause, openai.InternalServerError) for e in error.failures.values())
    assert [c.text if c else None for c in error.completions] == [OK_TEXT, None, OK_TEXT, None]
    assert len(server.requests) == 2 + 2 * 2  # two good requests, two failing ones with one retry each
    calls = policy.pop_calls()
    assert [c.error is None for c in calls] == [True, False, True, False]


def test_request_carries_sampling_schema_and_limits() -> None:
    schema = {"title": "Verdict score", "type": "object", "properties": {"score": {"type": "integer"}}}
    with FakeFaultyOpenAIServer() as server:
        policy = make_policy(server, temperature=0.0, top_p=0.9, max_tokens=64, seed=7)
        policy.complete(ChatRequest(messages=OBS["messages"], json_schema=schema, max_tokens=32))
    [body] = server.requests
    assert body["model"] == "fake-model"
    assert body["messages"] == OBS["messages"]
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.0, 0.9, 7)
    assert body["max_completion_tokens"] == 32  # the request's own limit wins
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Verdict_score", "schema": schema},
    }
    assert policy.spec.backend == "openai" and policy.spec.sampling["max_tokens"] == 64


def test_base_url_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeFaultyOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        policy = OpenAIChatPolicy("fake-model")
        assert policy.act(OBS) == OK_TEXT
    assert policy.base_url == server.base_url
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(ValueError, match="API key"):
        OpenAIChatPolicy("gpt-x")


def test_failing_partner_fails_the_episode_instead_of_speaking() -> None:
    """A partner whose calls keep failing ends the episode as failed; its error is no turn."""
    with FakeFaultyOpenAIServer(default="500") as server:
        partner = make_policy(server, max_retries=1)
        env = AutoPlay(osim_env.make("soul/sotopia-v0", scenario=0, judge=False), {"agent2": partner})
        env.reset(seed=0)
        me = ScriptedPolicy(['{"action_type": "speak", "argument": "Hello, is the record player for sale?"}'])
        for agent in env.agent_iter():
            _, _, terminated, truncated, _ = env.last()
            env.step(None if terminated or truncated else me.act(env.observe(agent)))
    record = env.unwrapped.episode_record()
    assert record.status == "failed"
    assert "agent2" in (record.termination or "") and "500" in (record.termination or "")
    assert not record.events_of("agent2", kinds=("message", "action", "invalid_action"))
    assert [e.source for e in record.events if e.kind == "message"] == ["agent1"]
    assert len(server.requests) == 2


def test_an_answer_that_is_not_unicode_text_fails_its_request_only() -> None:
    """A server can send half of a surrogate pair as a JSON escape; the client decodes it into a str
    that no store, tokenizer or hash can encode. That request fails (recorded), the others stand."""
    assert "\ud83d" in HALF_SURROGATE_TEXT and json.dumps(HALF_SURROGATE_TEXT).count("\\ud83d") == 1

    def broken_marked(body: dict[str, Any]) -> str | None:
        return "half_surrogate" if "BROKEN" in body["messages"][-1]["content"] else None

    observations = [{"messages": [{"role": "user", "content": text}]} for text in ("a", "BROKEN b", "c")]
    with FakeFaultyOpenAIServer(rule=broken_marked) as server:
        policy = make_policy(server)
        with pytest.raises(BatchPolicyError) as info:
            asyncio.run(policy.act_batch(observations))
    error = info.value
    assert sorted(error.failures) == [1]
    assert "not Unicode text: half of a surrogate pair ('\\ud83d') at index 43" in str(error.failures[1])
    assert [c.text if c else None for c in error.completions] == [OK_TEXT, None, OK_TEXT]
    assert len(server.requests) == 3  # a model's answer is not retried: it was answered
    calls = policy.pop_calls()
    assert [c.error is None for c in calls] == [True, False, True]
    assert "surrogate" in (calls[1].error or "")


def test_a_sweep_with_such_an_answer_stores_its_episodes(tmp_path: Path) -> None:
    """The runner fails the one episode whose partner answered with it and stores them all (before,
    the sweep crashed while hashing the observation that showed the answer)."""

    def broken_in_episode_2(body: dict[str, Any]) -> str | None:
        return "half_surrogate" if "Sami" in body["messages"][0]["content"] else None

    store_path = tmp_path / "s.duckdb"
    with FakeFaultyOpenAIServer(rule=broken_in_episode_2) as server:
        partner = make_policy(server)
        me = ScriptedPolicy(['{"action_type": "speak", "argument": "Is the record player still for sale?"}'])
        runner = Runner(store_path, roles={"agent1": me, "agent2": partner}, judge=False, progress=False)
        summary = runner.run(
            jobs_for("soul/sotopia-v0", 3, seed=0, scenarios=[0, 1, 2], options={"max_turns": 4})
        )
    with ReplayStore(store_path, read_only=True) as store:
        episodes = store.episodes(runner.run_id)
    assert len(episodes) == 3
    failed = episodes[episodes["status"] == "failed"]
    assert summary.failed == len(failed) >= 1
    assert failed["termination"].str.contains("not Unicode text").all()
    assert (episodes[episodes["status"] != "failed"]["status"] == "unjudged").all()
