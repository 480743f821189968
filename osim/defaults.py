"""Defaults the ``osim`` application takes from the environment (``$OSIM_*`` variables).

Envs, tasks and judges never read environment variables: a task's option defaults are fixed in its
code (its auxiliary models default to the local ``"tiny"`` model), so the same call builds the same
env everywhere. The application fills options from the environment before it builds an env, and
only options the env has and the caller left unset.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

import osim_env

# env option -> the environment variable that supplies its default in the application
OPTION_VARIABLES = {
    "judge_model": "OSIM_JUDGE_MODEL",  # the model behind a task's LLM judge
    "partner_model": "OSIM_PARTNER_MODEL",  # the model that plays a task's auxiliary roles
}


@cache
def env_options(env_id: str) -> Mapping[str, Any]:
    """The full option set of ``env_id`` with its defaults (which options it accepts)."""
    return dict(osim_env.make_raw(env_id).options)


def option_defaults(env_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` plus the environment's values for options of ``env_id`` that are unset."""
    accepted = env_options(env_id)
    filled = dict(options)
    for option, variable in OPTION_VARIABLES.items():
        value = os.environ.get(variable)
        if value and option in accepted and filled.get(option) is None:
            filled[option] = value
    return filled


def with_app_defaults(job: Any) -> Any:
    """An ``EpisodeJob`` with its env options completed by ``option_defaults``."""
    options = option_defaults(job.env_id, job.options)
    return job if options == dict(job.options) else dataclasses.replace(job, options=options)
