"""Hi-ToM's rule judge: 1 iff the extracted letter is the gold letter (soul-tasks.md §2.2, §1.4)."""

from __future__ import annotations

from typing import Any

from judges.extraction import extract_answer
from judges.judgment import Judgment, SyncJudge
from osim_env.episode import EpisodeRecord


class HiToMJudge(SyncJudge):
    spec: dict[str, Any] = {"kind": "rule", "name": "hitom_mcq", "version": 1}

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        gold = episode.scenario["gold"]
        n_options = len(episode.scenario["choices"])
        out: dict[str, Judgment] = {}
        for agent in episode.policy_agents:
            answer_events = [e for e in episode.events if e.source == agent and "raw" in e.payload]
            if not answer_events:
                out[agent] = Judgment(
                    agent=agent,
                    score=0.0,
                    dims={"valid": 0.0, "correct": 0.0},
                    reasons={"valid": "no answer given"},
                    judge=self.spec,
                )
                continue
            event = answer_events[-1]
            extraction = extract_answer(event.text, n_options) if event.kind == "message" else None
            if extraction is None or not extraction.valid:
                reason = event.payload.get("reason") if extraction is None else extraction.reason
                out[agent] = Judgment(
                    agent=agent,
                    score=0.0,
                    dims={"valid": 0.0, "correct": 0.0},
                    reasons={"valid": str(reason)},
                    raw=event.payload.get("raw"),
                    judge=self.spec,
                )
                continue
            correct = float(extraction.answer == gold)
            out[agent] = Judgment(
                agent=agent,
                score=correct,
                dims={"valid": 1.0, "correct": correct},
                reasons={"correct": f"answered {extraction.answer}, gold {gold}"},
                raw=event.payload.get("raw"),
                judge=self.spec,
            )
        return out
