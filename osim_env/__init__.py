"""osim's environment core: events, the env base, spaces, scheduling, registry and wrappers."""

from osim_env.env import Emit, Invalid, TextEnv
from osim_env.episode import EpisodeRecord
from osim_env.events import Event, EventLog
from osim_env.registration import make, make_parallel, make_raw, register, registry, spec
from osim_env.rows import RowError, Scenario
from osim_env.wrappers import AutoPlay, SingleRole

__version__ = "0.1.0"

register("soul/sotopia-v0", "scenarios.sotopia.env:env")
register("soul/hitom-v0", "scenarios.hitom.env:env")

__all__ = [
    "AutoPlay",
    "Emit",
    "EpisodeRecord",
    "Event",
    "EventLog",
    "Invalid",
    "RowError",
    "Scenario",
    "SingleRole",
    "TextEnv",
    "make",
    "make_parallel",
    "make_raw",
    "register",
    "registry",
    "spec",
]
