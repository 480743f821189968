"""Policies that need no model: fixed scripts, replays of stored episodes and random MCQ answers.

They are baselines (a random-choice floor for MCQ tasks), test drivers (a script that exercises a
path of an env) and the way to re-run a stored conversation against a new partner (replay).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from osim_env.episode import EpisodeRecord
from policies.base import ChatRequest, Completion, Policy, PolicyError, PolicySpec


class ScriptedPolicy(Policy):
    """Plays a fixed list of actions in order; with ``cycle=True`` (the default) it starts over.

    Actions are delivered verbatim, ``<think>`` blocks included: the env removes thinking itself and
    keeps it in the event payload, so a script can exercise that path.
    """

    strip_think = False

    def __init__(self, actions: Iterable[str], *, cycle: bool = True, name: str = "") -> None:
        super().__init__()
        self.actions = [str(a) for a in actions]
        if not self.actions:
            raise ValueError("a scripted policy needs at least one action")
        self.cycle = cycle
        self._next = 0
        self.spec = PolicySpec(
            backend="scripted",
            model=name or f"{len(self.actions)} actions",
            extra={"actions": self.actions, "cycle": cycle},
        )

    @classmethod
    def from_file(cls, path: str | Path, *, cycle: bool = True) -> ScriptedPolicy:
        """One action per non-empty line of a UTF-8 text file."""
        lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        return cls(lines, cycle=cycle, name=str(path))

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        return [_completion(self._take()) for _ in requests]

    def _take(self) -> str:
        if self._next >= len(self.actions):
            if not self.cycle:
                raise PolicyError(
                    f"script exhausted after {len(self.actions)} actions", spec=self.spec.model_dump()
                )
            self._next = 0
        action = self.actions[self._next]
        self._next += 1
        return action

    def reset(self) -> None:
        self._next = 0


class ReplayPolicy(Policy):
    """Plays one role's turns of a stored episode, in order, as they were originally sent.

    Each action of the role is its first event that carries ``payload["raw"]`` (the env stores the
    action string there, thinking included), so replaying through the same env reproduces the
    same events. Asking for more turns than were stored raises ``PolicyError``.
    """

    strip_think = False  # replay exactly what was sent

    def __init__(self, episode: EpisodeRecord | Sequence[Mapping[str, Any]], role: str) -> None:
        super().__init__()
        if isinstance(episode, EpisodeRecord):
            events = [e.to_dict() for e in episode.events]
            episode_id = episode.episode_id
        else:
            events = [dict(e) for e in episode]
            episode_id = ""
        self.role = role
        self.actions = [
            str(e["payload"]["raw"])
            for e in events
            if e.get("source") == role and "raw" in (e.get("payload") or {})
        ]
        if not self.actions:
            raise ValueError(f"the episode has no stored actions for role {role!r}")
        self._next = 0
        self.spec = PolicySpec(
            backend="replay", model=episode_id, extra={"role": role, "turns": len(self.actions)}
        )

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        out = []
        for _ in requests:
            if self._next >= len(self.actions):
                raise PolicyError(
                    f"replay of role {self.role!r} ran out after {len(self.actions)} turns",
                    spec=self.spec.model_dump(),
                )
            out.append(_completion(self.actions[self._next]))
            self._next += 1
        return out


class RandomChoicePolicy(Policy):
    """The random baseline of MCQ tasks: a uniformly drawn letter as ``<answer>X</answer>``.

    Give ``n_options`` (letters A, B, ...) or explicit ``letters``. The policy owns its numpy
    ``Generator``, so a seed reproduces its answers without touching any global RNG.
    """

    def __init__(
        self, n_options: int | None = None, *, letters: Sequence[str] | None = None, seed: int = 0
    ) -> None:
        super().__init__()
        if letters is None:
            if n_options is None:
                n_options = 4
            if not 2 <= n_options <= 26:
                raise ValueError(f"n_options must be in 2..26, got {n_options}")
            letters = string.ascii_uppercase[:n_options]
        self.letters = [str(x) for x in letters]
        if len(self.letters) < 2 or len(set(self.letters)) != len(self.letters):
            raise ValueError(f"need at least two distinct letters, got {self.letters}")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.spec = PolicySpec(backend="random", model="choice", seed=seed, extra={"letters": self.letters})

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        picks = self.rng.integers(len(self.letters), size=len(requests))
        return [_completion(f"<answer>{self.letters[int(i)]}</answer>") for i in picks]


def _completion(text: str) -> Completion:
    return Completion(text=text, raw=text)
