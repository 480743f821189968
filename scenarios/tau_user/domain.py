"""A tau domain: the agent's policy text, its tool schemas, the tasks and a way to get a fresh database
with its tools (docs/tasks.md#tau-user).

Tasks are read from the domain's ``tasks.json`` in the tau2 format (``user_scenario``,
``evaluation_criteria`` with gold ``actions``, ``communicate_info``, ``nl_assertions`` and
``reward_basis``), so the shipped ``bike_rental`` domain and tau2's ``airline`` and ``retail`` domains read
the same way. Reading tasks needs no tau2 import; only executing tau2's tools does
(``scenarios.tau_user.tau2_domains``, imported lazily by ``catalog.load_domain``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

SHIPPED_DOMAINS = ("bike_rental",)
TAU2_DOMAINS = ("airline", "retail")
DOMAINS = (*SHIPPED_DOMAINS, *TAU2_DOMAINS)
REWARD_BASES = ("DB", "COMMUNICATE", "ACTION", "NL_ASSERTION")
DEFAULT_REWARD_BASIS = ("DB", "COMMUNICATE")  # tau2's default
SHIPPED_DIR = Path(__file__).parent / "domains"


class GoldAction(BaseModel):
    """One tool call of the reference solution; ``compare_args`` (None: all) is what ACTION compares."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    compare_args: list[str] | None = None
    requestor: str = "assistant"


class TauTask(BaseModel):
    """A task of a domain's tasks file: what the simulated user knows and wants, and how it is graded."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    persona: str | None = None
    instructions: str  # the user scenario as text (reason for the call, known and unknown info, behaviour)
    known_info: str | None = None  # what the user knows (ids, names), for scripted users
    actions: tuple[GoldAction, ...] = ()
    communicate_info: tuple[str, ...] = ()
    nl_assertions: tuple[str, ...] = ()
    reward_basis: tuple[str, ...] = DEFAULT_REWARD_BASIS

    @classmethod
    def from_tau2(cls, data: Mapping[str, Any]) -> TauTask:
        """A task from its tau2 JSON form; tasks with an initial state (not used by airline and retail)
        are refused rather than graded wrongly."""
        initial = data.get("initial_state")
        if initial and any(initial.get(k) for k in ("initialization_data", "initialization_actions")):
            raise ValueError(
                f"task {data.get('id')!r} has an initial state, which tau-user-v0 does not support"
            )
        scenario = data.get("user_scenario") or {}
        instructions = scenario.get("instructions")
        criteria = data.get("evaluation_criteria") or {}
        basis = criteria.get("reward_basis") or DEFAULT_REWARD_BASIS
        unknown = set(basis) - set(REWARD_BASES)
        if unknown:
            raise ValueError(f"task {data.get('id')!r} has unsupported reward bases {sorted(unknown)}")
        return cls(
            id=str(data["id"]),
            persona=scenario.get("persona"),
            instructions=instruction_text(instructions),
            known_info=instructions.get("known_info") if isinstance(instructions, Mapping) else None,
            actions=tuple(GoldAction.model_validate(a) for a in criteria.get("actions") or ()),
            communicate_info=tuple(str(c) for c in criteria.get("communicate_info") or ()),
            nl_assertions=tuple(str(a) for a in criteria.get("nl_assertions") or ()),
            reward_basis=tuple(basis),
        )


INSTRUCTION_HEADINGS = (
    ("reason_for_call", "Reason for contacting"),
    ("known_info", "What you know"),
    ("unknown_info", "What you do not know"),
    ("task_instructions", "How to behave"),
)


def instruction_text(instructions: str | Mapping[str, Any] | None) -> str:
    """tau2's structured user instructions as headed paragraphs (a plain string is kept as it is)."""
    if instructions is None:
        return ""
    if isinstance(instructions, str):
        return instructions.strip()
    parts = []
    for key, heading in INSTRUCTION_HEADINGS:
        value = instructions.get(key)
        if value:
            parts.append(f"{heading}:\n{str(value).strip()}")
    return "\n\n".join(parts)


class ToolBox(Protocol):
    """A fresh copy of a domain's database with the tools that act on it."""

    def call(self, name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        """Run one tool: (result text, whether it failed). Never raises: an unknown tool, bad arguments
        or an exception inside the tool give an error string, as in tau-bench."""
        ...

    def db_hash(self) -> str:
        """A hash of the canonical JSON of the database (equal databases, equal hashes)."""
        ...


@dataclass(frozen=True)
class Domain:
    """Everything the env and the judge need about a domain."""

    name: str
    policy: str
    tool_schemas: tuple[dict[str, Any], ...]  # OpenAI function format
    tasks: Mapping[str, TauTask]
    write_tools: frozenset[str]  # the tools that may change the database
    new_toolbox: Callable[[], ToolBox]

    @property
    def tool_names(self) -> tuple[str, ...]:
        return tuple(s["function"]["name"] for s in self.tool_schemas)


def tau2_data_dir() -> Path:
    """tau2's data folder: ``$TAU2_DATA_DIR`` when set (as tau2 reads it), else the one inside the
    installed ``tau2`` package (found without importing it)."""
    override = os.environ.get("TAU2_DATA_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("tau2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the airline and retail domains need tau2: bash scripts/install_tau.sh (the [tau] extra)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def domain_dir(name: str) -> Path:
    """The folder holding a domain's ``db.json``, ``policy.md`` and ``tasks.json``."""
    if name in SHIPPED_DOMAINS:
        return SHIPPED_DIR / name
    if name in TAU2_DOMAINS:
        return tau2_data_dir() / "tau2" / "domains" / name
    raise ValueError(f"unknown domain {name!r}; known: {DOMAINS}")


@cache
def domain_tasks(name: str) -> dict[str, TauTask]:
    """The tasks of a domain by id (read once per process)."""
    data = json.loads((domain_dir(name) / "tasks.json").read_text(encoding="utf-8"))
    return {str(t["id"]): TauTask.from_tau2(t) for t in data}
