"""The math of verbal-feedback RL (Ditto, docs/tasks.md and README "Train"): groups, advantages, losses.

Pure functions over rewards and per-token log-probabilities, kept apart from the recipe
(``learners.ditto``) so each is checked against hand-computed numbers:

- ``joint_group``: the drafts y_{i,0} and refined samples y_{i,1} of one prompt x, episodes with an
  error dropped before any statistic (G + k members with k refined samples);
- ``group_advantages``: eq. 6, A = (r - mean) / (std + eps) with the population std and eps = 1e-6; a
  group with fewer than 2 members or std = 0 gets zero advantage (it teaches nothing);
- ``broadcast``: a multi-agent episode (CoSER) is one member of its group, counted once in the
  statistics; its advantage goes to every training sequence of every policy-played agent;
- ``clipped_token_loss``: the clipped surrogate of eq. 7 (and of L_fb, eq. 9, on the feedback group),
  summed over every completion token of a group and divided by the group's number of tokens
  (token-level loss), no KL term; the groups of a batch are averaged (the expectation over prompts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EPSILON = 1e-6  # eq. 6's epsilon
CLIP = 0.2  # the PPO clip range of the paper


@dataclass(frozen=True)
class Member:
    """One episode of a group: its reward (``None`` when the episode or its judge failed), whether it
    is a refined sample, and an identifier the caller uses to find its sequences."""

    key: Any
    reward: float | None
    refined: bool = False


def joint_group(drafts: Sequence[Member], refined: Sequence[Member]) -> list[Member]:
    """G(x) = {y_{i,0}} ∪ {y_{i,1}} without the episodes that have an error (reward ``None``)."""
    return [m for m in (*drafts, *refined) if m.reward is not None]


def feedback_group(refined: Sequence[Member]) -> list[Member]:
    """The refined samples alone (trained under (x, h_i) for L_fb), errors dropped."""
    return [m for m in refined if m.reward is not None]


def group_advantages(rewards: Sequence[float], eps: float = EPSILON) -> list[float]:
    """Eq. 6: (r - mean) / (population std + eps); all zero for fewer than 2 rewards or std = 0."""
    n = len(rewards)
    if n < 2 or max(rewards) == min(rewards):  # σ = 0 (tested on the values: a float sum is not exact)
        return [0.0] * n
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / n)
    return [(r - mean) / (std + eps) for r in rewards]


def member_advantages(members: Sequence[Member], eps: float = EPSILON) -> dict[Any, float]:
    """Each member's advantage (eq. 6) by key; every member must have a reward."""
    rewards = [m.reward for m in members]
    if any(r is None for r in rewards):
        raise ValueError("a group member without a reward: drop error episodes first (joint_group)")
    return dict(zip([m.key for m in members], group_advantages([float(r) for r in rewards], eps)))  # type: ignore[arg-type]


def is_degenerate(members: Sequence[Member]) -> bool:
    """Whether a group contributes nothing: fewer than 2 members or all rewards equal."""
    return len(members) < 2 or len({m.reward for m in members}) == 1


def broadcast(advantages: dict[Any, float], sequences: dict[Any, int]) -> list[tuple[Any, float]]:
    """(episode key, advantage) for every training sequence: ``sequences[key]`` sequences per episode
    (one per policy-played agent turn), each with its episode's advantage."""
    return [(key, advantages[key]) for key, n in sequences.items() if key in advantages for _ in range(n)]


def clipped_token_loss(
    logps: Any, old_logps: Any, advantages: Any, mask: Any, clip: float = CLIP, num_tokens: Any = None
) -> Any:
    """The clipped surrogate, negated, summed over tokens and divided by the token count.

    ``logps``/``old_logps``/``mask``: (sequences, tokens); ``advantages``: (sequences,). ρ =
    exp(logp - old_logp); per token min(ρ·A, clip(ρ, 1 - clip, 1 + clip)·A). ``num_tokens`` is the
    divisor: default the mask's sum; a number, so that micro-batches of one group share it; or one
    number per sequence (the token count of its own group), so that several groups are averaged.
    """
    import torch

    ratio = torch.exp(logps - old_logps)
    adv = advantages[:, None]
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * adv)
    per_sequence = (surrogate * mask).sum(dim=1)
    divisor = mask.sum() if num_tokens is None else num_tokens
    divisor = torch.clamp(torch.as_tensor(divisor, dtype=logps.dtype, device=logps.device), min=1.0)
    return -(per_sequence / divisor).sum() if divisor.ndim else -per_sequence.sum() / divisor
