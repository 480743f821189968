"""What one agent saw, rendered by its env from the stored events (never by a second renderer).

The episode is rebuilt from its record and its stored actions are re-stepped (``replays.replay``,
which also checks every observation against the digest stored for it); the agent's view is then
``env.observe(agent)`` on the finished episode: its system prompt (persona, private goal), the
preamble and every event it may see, as that env's ``render_event`` writes them. An episode that
does not reproduce shows the mismatch instead of a view that could be wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from osim_env.episode import EpisodeRecord
from replays.replay import rebuild_env, replay_record


@dataclass(frozen=True)
class AgentViews:
    """Every agent's final observation of one episode (or why it could not be rendered)."""

    agents: tuple[str, ...]
    messages: Mapping[str, list[dict[str, str]]] = field(default_factory=dict)
    replay: str = ""  # the replay report, one line
    error: str | None = None

    def of(self, agent: str) -> list[dict[str, str]]:
        if agent not in self.messages:
            raise KeyError(f"{agent!r} is not an agent of this episode ({', '.join(self.agents)})")
        return self.messages[agent]


def agent_views(record: EpisodeRecord, digests: Mapping[int, str] | None = None) -> AgentViews:
    """Replay ``record`` and render each of its agents' observations at the end of the episode."""
    agents = tuple(record.agents)
    try:
        env = rebuild_env(record)
        report = replay_record(record, digests, env=env)
    except Exception as exc:  # an env that is not installed, a row this osim cannot read
        return AgentViews(agents, error=f"cannot rebuild {record.env_id}: {type(exc).__name__}: {exc}")
    if not report.ok:
        error = f"the episode does not reproduce: {report.mismatch}"
        return AgentViews(agents, replay=str(report), error=error)
    episode_agents = tuple(env.agents)
    messages = {agent: [dict(m) for m in env.observe(agent)["messages"]] for agent in episode_agents}
    return AgentViews(episode_agents, messages, replay=str(report))
