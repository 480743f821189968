"""Deterministic ids and derived seeds.

The env owns its ``np_random``; every other random component (a judge's sample order, a partner
policy, a refined rollout) gets a seed derived here from stable strings, never from global state.
"""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Hex digest of the canonical JSON of ``parts`` (stable across processes and platforms)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def episode_id(env_id: str, scenario_id: str, seed: int | None) -> str:
    """``stable_hash("episode", env_id, scenario_id, seed)``; computed once per ``reset``, so the
    common case (string ids, an int seed) writes that same canonical JSON without ``json.dumps``
    (in one f-string: a chain of ``+`` builds every intermediate string)."""
    if type(env_id) is str and type(scenario_id) is str and (seed is None or type(seed) is int):
        seed_json = "null" if seed is None else seed
        blob = f'["episode",{encode_basestring(env_id)},{encode_basestring(scenario_id)},{seed_json}]'
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
    return stable_hash("episode", env_id, scenario_id, seed)


def derive_seed(seed: int | None, *labels: Any) -> int:
    """A 32-bit seed derived from ``seed`` and labels (e.g. ``derive_seed(s, "refined")``)."""
    return int(stable_hash("seed", seed, *labels, length=8), 16)
