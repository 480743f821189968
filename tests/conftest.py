"""Shared fixtures: the locally built tiny model and a real vLLM OpenAI-compatible server serving it.

Tests never reach the network: the hub is switched off before anything imports ``transformers``,
the tiny model is built in-process, and the server listens on 127.0.0.1. The server is started
once per session (it takes tens of seconds on a CPU) and stopped by its PID in teardown.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

TINY_SERVED_NAME = "tiny"
VLLM_STARTUP_TIMEOUT_S = float(os.environ.get("OSIM_VLLM_STARTUP_TIMEOUT", "240"))
VLLM_KV_CACHE_BYTES = 256 * 2**20
# Judges need structured output that a random-weight model can finish: no free whitespace in JSON.
VLLM_STRUCTURED_OUTPUTS = {"backend": "xgrammar", "disable_any_whitespace": True}


@pytest.fixture(scope="session", autouse=True)
def osim_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the tiny-model cache (``parse_spec("tiny")``) at a session directory unless set."""
    previous = os.environ.get("OSIM_CACHE_DIR")
    path = Path(previous) if previous else tmp_path_factory.mktemp("osim-cache")
    os.environ["OSIM_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("OSIM_CACHE_DIR", None)


@pytest.fixture(scope="session")
def tiny_model_dir(osim_cache_dir: Path) -> Path:
    """The tiny qwen3 model, built once per session (the same directory ``parse_spec("tiny")`` uses)."""
    from policies.spec import tiny_model_dir as cached_tiny_model_dir

    return cached_tiny_model_dir()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_vllm() -> None:
    """Skip without vLLM, except where CI says it must be there (``OSIM_REQUIRE_VLLM=1``)."""
    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        if os.environ.get("OSIM_REQUIRE_VLLM") == "1":
            raise
        pytest.skip(f"vLLM is not installed ({exc}); install with scripts/install_vllm.sh")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server (it shuts its engine processes down), then SIGKILL its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):  # started in its own session: group id == its PID
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real vLLM OpenAI-compatible server serving the tiny model; yields its base URL (``.../v1``).

    The served model name is ``"tiny"``. The server log is kept in the session's temp directory and
    quoted when the server does not come up.
    """
    require_vllm()
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(tiny_model_dir),
        "--served-model-name",
        TINY_SERVED_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--seed",
        "0",
        "--kv-cache-memory-bytes",
        str(VLLM_KV_CACHE_BYTES),
        "--structured-outputs-config",
        json.dumps(VLLM_STRUCTURED_OUTPUTS),
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        _wait_until_serving(process, base_url, log_path)
        yield base_url
    finally:
        _stop(process)


def _wait_until_serving(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + VLLM_STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"vLLM server exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
                models = json.load(response)
            if any(m.get("id") == TINY_SERVED_NAME for m in models.get("data", [])):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(1.0)
    raise RuntimeError(f"vLLM server not serving after {VLLM_STARTUP_TIMEOUT_S:.0f} s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def play_sotopia_episode(policy, partner, *, seed: int = 0, max_turns: int | None = None):
    """One full ``soul/sotopia-v0`` episode (fixture scenario 0, no judge): ``policy`` plays
    ``agent1`` in a plain ``agent_iter`` loop and ``partner`` plays ``agent2`` through ``AutoPlay``.
    Returns the finished ``EpisodeRecord``."""
    import osim_env
    from osim_env.wrappers import AutoPlay

    options = {} if max_turns is None else {"max_turns": max_turns}
    env = AutoPlay(osim_env.make("soul/sotopia-v0", scenario=0, judge=False, **options), {"agent2": partner})
    env.reset(seed=seed)
    for _agent in env.agent_iter():
        observation, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else policy.act(observation))
    return env.unwrapped.episode_record()


@pytest.fixture(scope="session")
def sotopia_episode():
    """``play_sotopia_episode`` as a fixture, so test modules need not import conftest."""
    return play_sotopia_episode


def assert_full_sotopia_episode(record, n_calls: int) -> None:
    """Shared checks of a model-played episode: it finished normally, both roles acted every turn
    of theirs, and every turn was one recorded model call."""
    assert record.status == "unjudged", record.termination
    assert record.termination
    turns = [e for e in record.events if e.source in ("agent1", "agent2") and e.kind != "end"]
    acted = sorted({(e.turn, e.source) for e in turns})
    assert [source for _, source in acted] == [("agent1", "agent2")[i % 2] for i in range(len(acted))]
    assert {e.source for e in record.events if e.kind == "message"} == {"agent1", "agent2"}
    assert n_calls == len(acted)


@pytest.fixture(scope="session")
def check_full_sotopia_episode():
    return assert_full_sotopia_episode
