"""Versioned env ids: ``osim_env.make("soul/sotopia-v0", scenario=..., **options)``.

Entry points are ``"module:attr"`` strings imported on first use, so ``osim_env`` never imports a
scenario package until someone makes that env. Third-party packages register through the
``osim.envs`` entry-point group (name = env id, value = entry point).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

_ID = re.compile(r"^(?:(?P<namespace>[\w.-]+)/)?(?P<name>[\w.:-]+?)-v(?P<version>\d+)$")


@dataclass(frozen=True)
class EnvSpec:
    id: str
    entry_point: str  # "package.module:callable" returning an AEC env
    kwargs: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        module, _, attr = self.entry_point.partition(":")
        return getattr(importlib.import_module(module), attr or "env")

    @property
    def module(self) -> Any:
        return importlib.import_module(self.entry_point.partition(":")[0])

    def sibling(self, name: str) -> Any:
        """The module's ``raw_env`` or ``parallel_env`` for this id. A module that registers several
        ids (entry points ``m:book_env``, ``m:chat_env``) names each one's siblings with the same
        prefix (``book_raw_env``, ``book_parallel_env``); a plain ``m:env`` uses ``raw_env``."""
        attr = self.entry_point.partition(":")[2] or "env"
        prefix = attr[: -len("env")] if attr.endswith("env") else ""
        return getattr(self.module, prefix + name)


_REGISTRY: dict[str, EnvSpec] = {}
_plugins_loaded = False


def register(id: str, entry_point: str, **kwargs: Any) -> None:
    if not _ID.match(id):
        raise ValueError(f"env id {id!r} must look like 'namespace/name-vN'")
    if id in _REGISTRY and _REGISTRY[id].entry_point != entry_point:
        raise ValueError(f"env id {id!r} is already registered to {_REGISTRY[id].entry_point}")
    _REGISTRY[id] = EnvSpec(id, entry_point, dict(kwargs))


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group="osim.envs"):
        if ep.name not in _REGISTRY:
            register(ep.name, ep.value)


def registry() -> list[str]:
    """All registered env ids, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)


def spec(id: str) -> EnvSpec:
    _load_plugins()
    if id in _REGISTRY:
        return _REGISTRY[id]
    m = _ID.match(id)
    hint = ""
    if m:
        stem = id[: id.rfind("-v")]
        versions = [k for k in _REGISTRY if k.startswith(stem + "-v")]
        if versions:
            hint = f"; available versions: {sorted(versions)}"
    if not hint:
        hint = f"; registered ids: {sorted(_REGISTRY)}"
    raise KeyError(f"no env registered as {id!r}{hint}")


def _tagged(env: Any, id: str) -> Any:
    """Record the id the env was made under (a registered variant keeps its own id in episodes)."""
    raw = getattr(env, "unwrapped", env)
    if getattr(raw, "env_id", id) != id:
        raw.env_id = id
    return env


def make(id: str, scenario: Any = None, **kwargs: Any) -> Any:
    """The AEC env (PettingZoo wrappers applied) for ``id``."""
    s = spec(id)
    return _tagged(s.load()(scenario=scenario, **{**s.kwargs, **kwargs}), id)


def make_raw(id: str, scenario: Any = None, **kwargs: Any) -> Any:
    s = spec(id)
    return _tagged(s.sibling("raw_env")(scenario=scenario, **{**s.kwargs, **kwargs}), id)


def make_parallel(id: str, scenario: Any = None, **kwargs: Any) -> Any:
    s = spec(id)
    env = s.sibling("parallel_env")(scenario=scenario, **{**s.kwargs, **kwargs})
    _tagged(env.aec_env, id)
    return env
