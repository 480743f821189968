"""Wrappers that let a plain loop or a single-agent learner drive a multi-agent env.

``AutoPlay`` plays the roles the caller does not control (a partner, a replayed assistant), so a
``for agent in env.agent_iter()`` loop only meets its own roles. ``SingleRole`` is a
``gymnasium.Env`` view of one role with every other role played by a policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gymnasium
from pettingzoo.utils.wrappers import BaseWrapper

PolicyLike = Callable[[Mapping[str, Any]], str] | Any


def call_policy(policy: PolicyLike, observation: Mapping[str, Any]) -> str:
    """Ask a policy for an action: ``policy.act(obs)`` if it has one, else ``policy(obs)``."""
    act = getattr(policy, "act", None)
    return act(observation) if callable(act) else policy(observation)


def _play_others(env: Any, policies: Mapping[str, PolicyLike], stop_at: Callable[[str], bool]) -> None:
    """Step auxiliary roles until ``stop_at(selection)`` or no agents are left.

    A policy that raises ends the episode as ``failed`` with the reason (never as conversation text).
    """
    raw = env.unwrapped
    while env.agents:
        agent = env.agent_selection
        if stop_at(agent):
            return
        if env.terminations[agent] or env.truncations[agent]:
            env.step(None)
            continue
        policy = policies.get(agent)
        if policy is None:
            raise KeyError(f"no policy for role {agent!r}; give one in policies=")
        try:
            action = call_policy(policy, env.observe(agent))
        except Exception as exc:  # the episode fails; the caller sees status and reason
            raw.abort(f"policy for {agent!r} failed: {type(exc).__name__}: {exc}")
            continue
        env.step(action)


class AutoPlay(BaseWrapper):
    """Plays ``policies`` (role -> policy) inside ``reset``/``step``; the caller plays the rest."""

    def __init__(self, env: Any, policies: Mapping[str, PolicyLike]):
        super().__init__(env)
        unknown = set(policies) - set(env.possible_agents)
        if unknown:
            raise ValueError(f"policies for unknown roles {sorted(unknown)}; roles are {env.possible_agents}")
        self.policies = dict(policies)

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self.env.reset(seed=seed, options=options)
        self._advance()

    def step(self, action: Any) -> None:
        self.env.step(action)
        self._advance()

    def _advance(self) -> None:
        _play_others(self.env, self.policies, lambda agent: agent not in self.policies)


class SingleRole(gymnasium.Env):
    """One role of a multi-agent env as a ``gymnasium.Env``; ``others`` play the other roles."""

    def __init__(self, env: Any, role: str, others: Mapping[str, PolicyLike]):
        if role not in env.possible_agents:
            raise ValueError(f"unknown role {role!r}; roles are {env.possible_agents}")
        missing = set(env.possible_agents) - {role} - set(others)
        if missing:
            raise ValueError(f"no policy for roles {sorted(missing)}")
        self.env = env
        self.role = role
        self.others = dict(others)
        self.observation_space = env.observation_space(role)
        self.action_space = env.action_space(role)
        self.render_mode = env.unwrapped.render_mode
        self.metadata = dict(env.metadata)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.env.reset(seed=seed, options=options)
        obs, _, _, _, info = self._until_role()
        return obs, dict(info)  # gymnasium: every call returns info the caller may keep

    def step(self, action: str):
        self.env.step(action)
        obs, reward, terminated, truncated, info = self._until_role()
        return obs, float(reward), bool(terminated), bool(truncated), dict(info)

    def _until_role(self):
        _play_others(self.env, self.others, lambda agent: agent == self.role)
        if self.role not in self.env.agents:
            raise RuntimeError(f"role {self.role!r} left the episode without its final step")
        return self.env.last()

    def render(self):
        return self.env.render()

    def close(self):
        self.env.close()
