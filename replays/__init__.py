"""The replay store: every episode in one DuckDB file; replay checks, re-judging and export to TRL
datasets, each a function that takes the store."""

from replays.export import EmptyExport, export, to_dataset
from replays.rejudge import rejudge
from replays.replay import Mismatch, ReplayReport, observation_digest, replay_record, replay_stored
from replays.store import AmbiguousEpisode, ReplayStore
from replays.tables import CallRecord, EpisodeResult, JudgmentRow

__all__ = [
    "AmbiguousEpisode",
    "CallRecord",
    "EmptyExport",
    "EpisodeResult",
    "JudgmentRow",
    "Mismatch",
    "ReplayReport",
    "ReplayStore",
    "export",
    "observation_digest",
    "rejudge",
    "replay_record",
    "replay_stored",
    "to_dataset",
]
