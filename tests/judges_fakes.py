"""Fault-injecting judge models and episode builders for the judges tests.

``FakeJudgeModel`` is a fake on purpose: it returns canned outputs (malformed JSON, out-of-range values,
missing keys) or raises / hangs, faults a real model cannot be made to produce on demand.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import osim_env
from osim_env.episode import EpisodeRecord
from osim_env.events import Event
from policies.base import ChatRequest, Completion, Policy, PolicyError, PolicySpec

Reply = str | BaseException | Callable[[ChatRequest], str] | float  # a float: hang for that many seconds


class FakeJudgeModel(Policy):
    """Replies from a script, one entry per request, in order (the last entry repeats)."""

    def __init__(self, replies: Sequence[Reply], name: str = "fake-judge") -> None:
        super().__init__()
        self.spec = PolicySpec(backend="fake", model=name)
        self.replies = list(replies)
        self.requests: list[ChatRequest] = []

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        out = []
        for request in requests:
            reply = self.replies[min(len(self.requests), len(self.replies) - 1)]
            self.requests.append(request)
            if isinstance(reply, BaseException):
                raise reply
            if isinstance(reply, float):
                await asyncio.sleep(reply)
                reply = "{}"
            text = reply(request) if callable(reply) else reply
            out.append(Completion(text=text, raw=text))
        return out


def policy_error(message: str = "HTTP 429 after retries") -> PolicyError:
    return PolicyError(message)


def sotopia_answer(scores: dict[str, int], reasoning: str = "because") -> str:
    return json.dumps({d: {"reasoning": f"{reasoning} {d}", "score": s} for d, s in scores.items()})


def sotopia_reward_answer(scores: dict[str, int], risk: str = "low") -> Callable[[ChatRequest], str]:
    """Replies for Sotopia's default reward (judge + hack auditor on one model): each request gets the
    answer its schema asks for (the auditor's schema has a ``risk`` field)."""

    def reply(request: ChatRequest) -> str:
        if "risk" in (request.json_schema or {}).get("properties", {}):
            return json.dumps({"risk": risk, "reason": f"audited as {risk}"})
        return sotopia_answer(scores)

    return reply


GOOD_SCORES = {
    "believability": 8,
    "relationship": 1,
    "knowledge": 5,
    "secret": 0,
    "social_rules": -2,
    "financial_and_material_benefits": 0,
    "goal": 7,
}


def sotopia_episode(actions: Sequence[str] | None = None, **options: Any) -> EpisodeRecord:
    """A real ``soul/sotopia-v0`` episode played with the given action strings (no judge)."""
    env = osim_env.make("soul/sotopia-v0", scenario=0, judge=False, max_turns=4, **options)
    env.reset(seed=1)
    for action in actions or (
        '{"action_type": "speak", "argument": "Hello! This record player is 150 euros."}',
        '{"action_type": "speak", "argument": "Would you take 100?"}',
        '{"action_type": "speak", "argument": "I could do 140, it works perfectly."}',
        '{"action_type": "leave", "argument": ""}',
    ):
        env.step(action)
    return env.unwrapped.episode_record()


def record_with_turns(
    turns: Sequence[tuple[str, str]] | Sequence[tuple[str, str, str]],
    scenario: dict[str, Any],
    *,
    agents: Sequence[str],
    policy_agents: Sequence[str],
    env_id: str = "test/judges-v0",
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> EpisodeRecord:
    """An episode record from (source, text[, kind]) turns, for judges of tasks whose env is not built yet."""
    events = []
    for i, turn in enumerate(turns):
        source, text = turn[0], turn[1]
        kind = turn[2] if len(turn) > 2 else "message"
        payload: dict[str, Any] = (
            {"text": text, "raw": text} if kind != "invalid_action" else {"reason": text}
        )
        events.append(Event(index=i, turn=i, kind=kind, source=source, payload=payload))
    return EpisodeRecord(
        episode_id=f"ep-{seed}",
        env_id=env_id,
        scenario_id="s0",
        seed=seed,
        scenario=scenario,
        options=options or {},
        agents=tuple(agents),
        policy_agents=tuple(policy_agents),
        events=tuple(events),
        status="ok",
    )
