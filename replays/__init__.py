"""The replay store: every episode in one DuckDB file, replay, re-judging and export to TRL datasets."""

from replays.replay import Mismatch, ReplayReport, observation_digest, replay_record
from replays.rows import CallRecord, EpisodeResult, JudgmentRow
from replays.store import AmbiguousEpisode, ReplayStore

__all__ = [
    "AmbiguousEpisode",
    "CallRecord",
    "EpisodeResult",
    "JudgmentRow",
    "Mismatch",
    "ReplayReport",
    "ReplayStore",
    "observation_digest",
    "replay_record",
]
