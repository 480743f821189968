"""Deterministic ids and derived seeds.

The env owns its ``np_random``; every other random component (a judge's sample order, a partner
policy, a refined rollout) gets a seed derived here from stable strings, never from global state.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Canonical JSON: sorted keys, no spaces, non-ASCII as is, anything else as its str().
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Hex digest of the canonical JSON of ``parts`` (stable across processes and platforms)."""
    blob = _CANONICAL_JSON.encode(parts)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def episode_id(env_id: str, scenario_id: str, seed: int | None) -> str:
    """The id of the episode that ``seed`` gives on this env and scenario (same inputs, same id)."""
    return stable_hash("episode", env_id, scenario_id, seed)


def derive_seed(seed: int | None, *labels: Any) -> int:
    """A 32-bit seed derived from ``seed`` and labels (e.g. ``derive_seed(s, "refined")``)."""
    return int(stable_hash("seed", seed, *labels, length=8), 16)
