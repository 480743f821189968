"""Deterministic judges for env tests (rule judges; no model involved)."""

from __future__ import annotations

from typing import Any

from judges.judgment import Judgment
from judges.sync_judge import SyncJudge
from osim_env.episode import EpisodeRecord


class ValidTurnShareJudge(SyncJudge):
    """Score = the share of an agent's actions that were valid."""

    spec: dict[str, Any] = {"kind": "rule", "name": "valid_turn_share"}

    def __init__(self) -> None:
        self.seen: list[EpisodeRecord] = []

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        self.seen.append(episode)
        out = {}
        for agent in episode.agents:
            acted = [e for e in episode.events if e.source == agent and "raw" in e.payload]
            valid = [e for e in acted if e.kind != "invalid_action"]
            score = len(valid) / len(acted) if acted else 0.0
            out[agent] = Judgment(agent=agent, score=score, dims={"valid_turns": len(valid)}, judge=self.spec)
        return out


class FailingJudge(SyncJudge):
    """A judge whose model call failed: it reports an error and no score."""

    spec: dict[str, Any] = {"kind": "llm", "name": "failing"}

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        return {
            a: Judgment.failed(a, "judge call timed out after 3 attempts", self.spec)
            for a in episode.policy_agents
        }


FAKE_JUDGE_MODELS: list[Any] = []


def sotopia_judge_on_a_fake_model() -> SyncJudge:
    """Sotopia's default reward (judge + hack auditor + rule detectors) on ``FakeJudgeModel`` (a fake:
    canned valid answers), for CLI tests that count model calls; every model built is kept in
    ``FAKE_JUDGE_MODELS``."""
    from judges_fakes import GOOD_SCORES, FakeJudgeModel, sotopia_reward_answer

    from scenarios.sotopia.judge import default_judge

    model = FakeJudgeModel([sotopia_reward_answer(GOOD_SCORES)])
    FAKE_JUDGE_MODELS.append(model)
    return default_judge(model)
