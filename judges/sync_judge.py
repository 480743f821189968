"""``SyncJudge``: the base of judges whose work is synchronous (rules, detectors).

It gives such a judge the async batch API (on worker threads) and turn-level judging (the episode
prefix up to a turn, judged for the agent who acted; see ``judges.turns``) for free.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from judges.judgment import Judgment
from judges.turns import only_actor, turn_prefix
from osim_env.episode import EpisodeRecord


class SyncJudge(ABC):
    """Base for judges whose work is synchronous: provides ``judge_batch`` on worker threads."""

    spec: dict[str, Any] = {}

    @abstractmethod
    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]: ...

    async def judge_batch(self, episodes: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]:
        return await asyncio.gather(*(asyncio.to_thread(self.judge_episode, e) for e in episodes))

    def judge_turn(self, record: EpisodeRecord, event_index: int) -> dict[str, Judgment]:
        """The acting agent's judgment of the episode prefix ending at turn event ``event_index``."""
        prefix, actor = turn_prefix(record, event_index)
        return only_actor(self.judge_episode(prefix), actor, event_index)

    async def judge_turn_batch(self, items: Sequence[tuple[EpisodeRecord, int]]) -> list[dict[str, Judgment]]:
        return await asyncio.gather(*(asyncio.to_thread(self.judge_turn, r, i) for r, i in items))
