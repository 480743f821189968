"""The parallel view of an AEC env factory (PettingZoo's conversion)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pettingzoo.utils.conversions import aec_to_parallel


def parallel_view(env_fn: Callable[..., Any]) -> Callable[..., Any]:
    """``env_fn`` (keyword arguments -> AEC env) turned into a parallel-env factory."""

    def parallel_fn(**kwargs: Any) -> Any:
        return aec_to_parallel(env_fn(**kwargs))

    return parallel_fn
