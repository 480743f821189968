"""Text-env checks PettingZoo's suites do not make.

Each check takes ``env_fn`` (keyword arguments -> AEC env) and raises ``AssertionError`` with a
message saying what differed.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

EnvFn = Callable[..., Any]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_TIME_KEYS = re.compile(r"time|date|clock|uuid|timestamp|elapsed|latency", re.IGNORECASE)


def sample_episode(
    env: Any, seed: int, max_steps: int = 400
) -> list[tuple[str, Any, float, bool, bool, Any, Any]]:
    """Play one episode with actions sampled from seeded action spaces; record every ``last()``."""
    env.reset(seed=seed)
    for i, agent in enumerate(env.possible_agents):
        env.action_space(agent).seed(seed + i)
    trace = []
    for step, agent in enumerate(env.agent_iter()):
        obs, reward, terminated, truncated, info = env.last()
        action = None if terminated or truncated else env.action_space(agent).sample()
        trace.append((agent, obs, float(reward), terminated, truncated, info, action))
        env.step(action)
        if step >= max_steps:
            raise AssertionError(f"episode did not end within {max_steps} steps")
    return trace


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)


def episode_seed_test(env_fn: EnvFn, seeds: tuple[int, ...] = (0, 1, 7)) -> None:
    """Whole episodes (not one step) are byte-identical for the same seed and actions."""
    for seed in seeds:
        a = sample_episode(env_fn(), seed)
        b = sample_episode(env_fn(), seed)
        assert len(a) == len(b), f"seed {seed}: episode lengths differ ({len(a)} vs {len(b)})"
        for i, (x, y) in enumerate(zip(a, b)):
            assert _dump(x) == _dump(y), f"seed {seed}: step {i} differs:\n{_dump(x)}\n{_dump(y)}"
        raw_a, raw_b = env_fn().unwrapped, env_fn().unwrapped
        sample_episode(raw_a, seed), sample_episode(raw_b, seed)
        assert raw_a.log.to_dicts() == raw_b.log.to_dicts(), f"seed {seed}: event logs differ"


def deterministic_infos_test(env_fn: EnvFn, seed: int = 3) -> None:
    """Infos are JSON data with no wall-clock time or random ids, equal across identical runs."""
    first = sample_episode(env_fn(), seed)
    time.sleep(0.01)
    second = sample_episode(env_fn(), seed)
    now = time.time()  # the check itself needs the clock: infos must not look like it
    for (agent, _, _, _, _, info, _), (_, _, _, _, _, info2, _) in zip(first, second):
        assert isinstance(info, dict), f"info of {agent} is not a dict"
        text = json.dumps(info, sort_keys=True)  # raises if not JSON data
        assert text == json.dumps(info2, sort_keys=True), (
            f"infos differ between identical runs: {info} {info2}"
        )
        assert not _UUID.search(text), f"info of {agent} holds a uuid: {text}"
        for key, value in _walk(info):
            assert not _TIME_KEYS.search(key), f"info key {key!r} looks like wall-clock data"
            if isinstance(value, float) and math.isfinite(value):
                assert abs(value - now) > 1e7, f"info value {key}={value} looks like a timestamp"


def _walk(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_walk(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.extend(_walk(v, f"{prefix}[{i}]"))
    else:
        out.append((prefix, obj))
    return out


def replay_render_test(env_fn: EnvFn, seeds: tuple[int, ...] = (0, 5)) -> None:
    """Observations rendered incrementally during play equal a fresh rendering of the final log,
    and re-stepping the recorded action strings reproduces every observation byte for byte."""
    for seed in seeds:
        env = env_fn()
        raw = env.unwrapped
        trace = sample_episode(env, seed)
        # 1. incremental views == a full re-render of the log for each agent
        for agent in raw.possible_agents:
            incremental = raw.messages_for(agent)
            raw.reset_render_cache(agent)
            assert raw.messages_for(agent) == incremental, (
                f"seed {seed}: incremental render of {agent} differs"
            )
        # 2. replay the recorded action strings from the log
        actions = [
            e.payload["raw"] for e in raw.log if "raw" in e.payload and e.source in raw.possible_agents
        ]
        replay = env_fn()
        replay.reset(seed=seed)
        observations = [_dump(obs) for (_, obs, _, term, trunc, _, _) in trace if not (term or trunc)]
        replayed = []
        it = iter(actions)
        for _agent in replay.agent_iter():
            obs, _, term, trunc, _ = replay.last()
            if term or trunc:
                replay.step(None)
                continue
            replayed.append(_dump(obs))
            replay.step(next(it))
        assert replayed == observations, f"seed {seed}: replayed observations differ"
        assert replay.unwrapped.log.to_dicts() == raw.log.to_dicts(), f"seed {seed}: replayed log differs"


def parallel_containment_test(parallel_env_fn: EnvFn, seed: int = 0, max_rounds: int = 200) -> None:
    """Every observation of the parallel API lies in its agent's observation space."""
    env = parallel_env_fn()
    observations, infos = env.reset(seed=seed)
    for i, agent in enumerate(env.possible_agents):
        env.action_space(agent).seed(seed + i)
    for agent, obs in observations.items():
        assert env.observation_space(agent).contains(obs), f"reset observation of {agent} outside its space"
    for _ in range(max_rounds):
        if not env.agents:
            break
        actions = {a: env.action_space(a).sample() for a in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)
        for agent, obs in observations.items():
            assert env.observation_space(agent).contains(obs), f"observation of {agent} outside its space"
            assert np.isfinite(float(rewards[agent])), f"reward of {agent} is not finite"
    else:
        raise AssertionError(f"parallel episode did not end within {max_rounds} rounds")
    env.close()
