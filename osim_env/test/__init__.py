"""osim's conformance suite, importable like ``pettingzoo.test``.

``run_all(env_fn)`` runs PettingZoo's own tests (api, seed, render, parallel api and seed, and
max_cycles where the env has rounds) and the stricter text checks PettingZoo lacks.
"""

from __future__ import annotations

import contextlib
import io
import types
import warnings
from collections.abc import Callable
from typing import Any

from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, render_test, seed_test
from pettingzoo.test.seed_test import parallel_seed_test

from osim_env.conversions import parallel_view
from osim_env.test.checks import (
    deterministic_infos_test,
    episode_seed_test,
    parallel_containment_test,
    replay_render_test,
    sample_episode,
)
from osim_env.test.fuzz import action_strategy, fuzz_actions_test


def has_rounds(env_fn: Callable[..., Any]) -> bool:
    """Whether the env runs for several rounds (so PettingZoo's max_cycles test applies)."""
    raw = env_fn().unwrapped
    return raw.default_max_turns >= 2 * len(raw.possible_agents)


def run_all(
    env_fn: Callable[..., Any],
    *,
    num_cycles: int = 100,
    fuzz_examples: int = 2000,
    quiet: bool = True,
) -> list[str]:
    """Run every check on ``env_fn`` (keyword arguments -> AEC env). Returns the names run.

    Parallel-API checks (and ``max_cycles_test``, for envs with rounds) run when the env's metadata
    says ``is_parallelizable``.
    """
    parallel_fn = parallel_view(env_fn)
    # The parallel view exists where every live agent acts once per round (PettingZoo's conversion).
    parallel = bool(env_fn().metadata.get("is_parallelizable", False))
    ran: list[str] = []
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        api_test(env_fn(), num_cycles=num_cycles)
        ran.append("pettingzoo.api_test")
        seed_test(env_fn, num_cycles=num_cycles)
        ran.append("pettingzoo.seed_test")
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            render_test(env_fn)
        ran.append("pettingzoo.render_test")
        if parallel:
            parallel_api_test(parallel_fn(), num_cycles=num_cycles)
            ran.append("pettingzoo.parallel_api_test")
            parallel_seed_test(parallel_fn, num_cycles=num_cycles)
            ran.append("pettingzoo.parallel_seed_test")
            if has_rounds(env_fn):
                max_cycles_test(types.SimpleNamespace(env=env_fn, parallel_env=parallel_fn))
                ran.append("pettingzoo.max_cycles_test")
    if parallel:
        parallel_containment_test(parallel_fn)
        ran.append("parallel_containment_test")
    episode_seed_test(env_fn)
    ran.append("episode_seed_test")
    deterministic_infos_test(env_fn)
    ran.append("deterministic_infos_test")
    replay_render_test(env_fn)
    ran.append("replay_render_test")
    if fuzz_examples:
        fuzz_actions_test(env_fn, examples=fuzz_examples)
        ran.append("fuzz_actions_test")
    return ran


__all__ = [
    "action_strategy",
    "deterministic_infos_test",
    "episode_seed_test",
    "fuzz_actions_test",
    "has_rounds",
    "parallel_containment_test",
    "replay_render_test",
    "run_all",
    "sample_episode",
]
