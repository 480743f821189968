"""The tau-user data row (docs/tasks.md#tau-user): a domain, a task id of that domain's tasks file, and
optional human reference values for this task."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from osim_env.data import decode_structured
from scenarios.tau_user.domain import DOMAINS, TauTask, domain_tasks, instruction_text
from scenarios.tau_user.features import FEATURES

DATA_SOURCE = "tau_user"


class TauUserRow(BaseModel):
    """One simulated-customer episode setup; the task itself lives in the domain's tasks file."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    domain: str
    task_id: str = Field(min_length=1)
    instruction: str | dict[str, Any] | None = Field(default=None, description="overrides the user scenario")
    human_targets: dict[str, float] | None = None
    human_success: float | None = Field(default=None, ge=0.0, le=1.0)
    human_survey: dict[str, Any] | None = None

    @field_validator("task_id", mode="before")
    @classmethod
    def _task_id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("instruction", "human_targets", "human_survey", mode="before")
    @classmethod
    def _structured(cls, value: Any) -> Any:
        return decode_structured(value) if isinstance(value, str) and value.lstrip()[:1] in "[{" else value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if value not in DOMAINS:
            raise ValueError(f"unknown domain {value!r}; known: {list(DOMAINS)}")
        return value

    @field_validator("human_targets")
    @classmethod
    def _targets(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            unknown = set(value) - set(FEATURES)
            if unknown:
                raise ValueError(
                    f"unknown human_targets features {sorted(unknown)}; known: {sorted(FEATURES)}"
                )
        return value

    @model_validator(mode="after")
    def _task_exists(self) -> TauUserRow:
        tasks = domain_tasks(self.domain)  # raises when tau2 is needed and missing
        if self.task_id not in tasks:
            raise ValueError(f"task_id {self.task_id!r} is not a task of domain {self.domain!r}")
        return self

    def task(self) -> TauTask:
        return domain_tasks(self.domain)[self.task_id]

    def user_instructions(self) -> str:
        """The user scenario the simulated user reads: the row's override, else the task's."""
        if self.instruction is not None:
            return instruction_text(self.instruction)
        return self.task().instructions
