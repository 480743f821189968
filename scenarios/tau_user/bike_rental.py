"""The shipped ``bike_rental`` domain (docs/tasks.md#tau-user): a JSON database of customers, bikes and
rentals, five tools, a short policy and three tasks with gold actions.

It is small on purpose: tests and the offline demo run on it without tau2. The tools follow tau2's
conventions: a tool returns JSON-ready data or raises ``ToolError`` with a message the agent reads.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scenarios.tau_user.domain import Domain, TauTask

MAX_EXTENSION_DAYS = 7
CANCEL_REASONS = ("change of plans", "found another option")


class ToolError(Exception):
    """A tool refused the call; the message becomes the tool result."""


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


TOOL_SCHEMAS: tuple[dict[str, Any], ...] = (
    _function(
        "find_customer",
        "Find a customer by email; returns their id, name and rental ids.",
        {"email": {"type": "string", "description": "The customer's email address."}},
        ["email"],
    ),
    _function(
        "get_rental",
        "Get the details of a rental: customer, bike, dates, status and total.",
        {"rental_id": {"type": "string", "description": "The rental id, such as 'R1001'."}},
        ["rental_id"],
    ),
    _function(
        "extend_rental",
        "Extend an active rental to a later end date (at most 7 more days); returns the updated rental.",
        {
            "rental_id": {"type": "string", "description": "The rental id."},
            "new_end_date": {"type": "string", "description": "The new end date, YYYY-MM-DD."},
        },
        ["rental_id", "new_end_date"],
    ),
    _function(
        "cancel_rental",
        "Cancel a reserved (not yet started) rental with a full refund; returns the updated rental.",
        {
            "rental_id": {"type": "string", "description": "The rental id."},
            "reason": {"type": "string", "enum": list(CANCEL_REASONS), "description": "Why it is cancelled."},
        },
        ["rental_id", "reason"],
    ),
    _function(
        "transfer_to_human_agents",
        "Transfer the customer to a human agent, with a summary of their issue.",
        {"summary": {"type": "string", "description": "A summary of the customer's issue."}},
        ["summary"],
    ),
)
WRITE_TOOLS = frozenset({"extend_rental", "cancel_rental"})


class BikeRentalTools:
    """The five tools over one copy of the database (a plain dict)."""

    def __init__(self, db: dict[str, Any]) -> None:
        self.db = db

    def find_customer(self, email: str) -> dict[str, Any]:
        for customer in self.db["customers"].values():
            if customer["email"].lower() == str(email).strip().lower():
                return customer
        raise ToolError("Customer not found")

    def get_rental(self, rental_id: str) -> dict[str, Any]:
        rental = self.db["rentals"].get(rental_id)
        if rental is None:
            raise ToolError("Rental not found")
        return rental

    def extend_rental(self, rental_id: str, new_end_date: str) -> dict[str, Any]:
        rental = self.get_rental(rental_id)
        if rental["status"] != "active":
            raise ToolError(f"Only active rentals can be extended; this one is {rental['status']}")
        try:
            new_end = dt.date.fromisoformat(new_end_date)
        except (TypeError, ValueError):
            raise ToolError("new_end_date must be a date YYYY-MM-DD") from None
        added = (new_end - dt.date.fromisoformat(rental["end_date"])).days
        if not 1 <= added <= MAX_EXTENSION_DAYS:
            raise ToolError(f"The new end date must be 1 to {MAX_EXTENSION_DAYS} days after the current one")
        rental["end_date"] = new_end.isoformat()
        rental["total"] += added * self.db["bikes"][rental["bike_id"]]["daily_rate"]
        return rental

    def cancel_rental(self, rental_id: str, reason: str) -> dict[str, Any]:
        rental = self.get_rental(rental_id)
        if reason not in CANCEL_REASONS:
            raise ToolError(f"reason must be one of {list(CANCEL_REASONS)}")
        if rental["status"] != "reserved":
            raise ToolError(f"Only reserved rentals can be cancelled; this one is {rental['status']}")
        rental["status"] = "cancelled"
        rental["refund"] = rental["total"]
        rental["cancel_reason"] = reason
        return rental

    def transfer_to_human_agents(self, summary: str) -> str:
        return "Transfer successful"


class BikeRentalToolBox:
    """A fresh database copy and its tools (the ``ToolBox`` of ``scenarios.tau_user.domain``)."""

    def __init__(self, db: dict[str, Any]) -> None:
        self.tools = BikeRentalTools(copy.deepcopy(db))
        self.names = {s["function"]["name"] for s in TOOL_SCHEMAS}

    def call(self, name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        if name not in self.names:
            return f"Error: Tool '{name}' not found.", True
        try:
            result = getattr(self.tools, name)(**arguments)
        except ToolError as exc:
            return f"Error: {exc}", True
        except (
            TypeError,
            KeyError,
            ValueError,
            RecursionError,
        ) as exc:  # missing, unexpected, ill-typed arguments
            return f"Error: {type(exc).__name__}: {exc}", True
        return (result if isinstance(result, str) else json.dumps(result, sort_keys=True)), False

    def db_hash(self) -> str:
        canonical = json.dumps(self.tools.db, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def bike_rental_domain(folder: Path, tasks: Mapping[str, TauTask]) -> Domain:
    db = json.loads((folder / "db.json").read_text(encoding="utf-8"))
    return Domain(
        name="bike_rental",
        policy=(folder / "policy.md").read_text(encoding="utf-8").strip(),
        tool_schemas=TOOL_SCHEMAS,
        tasks=tasks,
        write_tools=WRITE_TOOLS,
        new_toolbox=lambda: BikeRentalToolBox(db),
    )
