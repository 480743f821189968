"""Judges: map an episode (or a turn) to a ``Judgment``."""

from judges.judgment import Feedback, Judge, Judgment, SyncJudge

__all__ = ["Feedback", "Judge", "Judgment", "SyncJudge"]
