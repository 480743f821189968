"""The three constructors every env module exports (``env``, ``raw_env``, ``parallel_env``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pettingzoo.utils import wrappers
from pettingzoo.utils.conversions import parallel_wrapper_fn


def env_factories(raw_cls: type) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """``raw_env`` builds the bare env, ``env`` adds PettingZoo's order checks, ``parallel_env``
    converts to the parallel API (every live agent acts once per round)."""

    def raw_env(**kwargs: Any) -> Any:
        return raw_cls(**kwargs)

    def env(**kwargs: Any) -> Any:
        return wrappers.OrderEnforcingWrapper(raw_cls(**kwargs))

    raw_env.__doc__ = f"The bare {raw_cls.__name__}."
    env.__doc__ = f"{raw_cls.__name__} with PettingZoo's order enforcing wrapper."
    return env, raw_env, parallel_wrapper_fn(env)
