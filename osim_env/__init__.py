"""osim's environment library: events, the env base, spaces, scheduling, registry and wrappers.

It imports none of osim's other packages. Tasks (the project's own in ``scenarios/`` and any
third-party package) register through the ``osim.envs`` entry-point group.
"""

from osim_env.data import RowError, Scenario
from osim_env.env import Emit, Invalid, JudgeFailed, TextEnv
from osim_env.episode import EpisodeRecord
from osim_env.events import Event, EventLog
from osim_env.registration import make, make_parallel, make_raw, register, registry, spec
from osim_env.wrappers import AutoPlay, SingleRole

__version__ = "0.1.0"

__all__ = [
    "AutoPlay",
    "Emit",
    "EpisodeRecord",
    "Event",
    "EventLog",
    "Invalid",
    "JudgeFailed",
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
