"""``soul/simarena-math-v0`` and ``soul/simarena-doc-v0``: the policy plays a student being tutored in math,
or a user writing a document with an AI assistant; an auxiliary LLM plays the tutor or the assistant
(docs/tasks.md#simarena).

Both envs share the rollout: the simulated human opens, the two alternate, and the episode ends when the
human writes ``terminate conversation`` (other text in that action is dropped and flagged), after
``max_student_turns`` / ``max_user_turns`` human turns (8), or after an invalid human action (judged on
what exists). The document env then asks the assistant, out of the user's sight, for the final document
(the ``finalize`` step) that the document judge rates. A tutor or assistant whose call fails ends the
episode ``failed`` (the runner or ``AutoPlay`` aborts it); an empty reply ends it and its judgment is an
error: a partial conversation is never scored as complete.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from osim_env.data import Scenario
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event, EventLog
from osim_env.factories import env_factories
from osim_env.scheduling import Scheduler
from scenarios.simarena import prompts
from scenarios.simarena.judge import REWARDS, default_judge
from scenarios.simarena.schema import DOC_SOURCES, MATH_SOURCES, DocRow, MathRow

DEFAULT_PARTNER_MODEL = "tiny"
TERMINATE = re.compile(r"terminate\s+conversation", re.IGNORECASE)
# What is left of a termination action that does not count as extra text: labels, quotes, punctuation.
TRIVIAL = re.compile(r"(?:\b(?:query|response|message)\s*:|[\s\W_])+", re.IGNORECASE)


@dataclass
class TakeTurns(Scheduler):
    """The human opens and the two alternate; the partner acts twice in a row for the finalize step."""

    human: str
    partner: str
    partner_again: Callable[[], bool]
    uses_rng: bool = field(default=False, init=False, repr=False)

    def first(self, present: Sequence[str]) -> str | None:
        return self.human

    def next(
        self, log: EventLog, current: str, present: Sequence[str], rng: np.random.Generator
    ) -> str | None:
        if current == self.human or self.partner_again():
            return self.partner
        return self.human


def human_message(text: str, labels: Sequence[str]) -> dict[str, Any] | Invalid:
    """The payload of a simulated human's action (thinking already removed), or ``Invalid``.

    ``terminate conversation`` anywhere ends the conversation (other text is dropped and flagged
    ``termination_with_text``); else the message is the text after the first label, or the whole text
    flagged ``format_lenient`` when there is none."""
    if TERMINATE.search(text):
        rest = TRIVIAL.sub(" ", TERMINATE.sub(" ", text)).strip()
        payload: dict[str, Any] = {"text": "terminate conversation", "terminate": True}
        if rest:
            payload.update(termination_with_text=True, dropped_text=text.strip())
        return payload
    label = re.search(r"\b(" + "|".join(labels) + r")\s*:", text, re.IGNORECASE)
    if label is not None:
        message = text[label.end() :].strip()
        payload = {"text": message, "label": label.group(1).capitalize()}
    else:
        message = text.strip()
        payload = {"text": message, "format_lenient": True}
    if not message:
        return Invalid("empty message")
    return payload


class SimArenaEnv(TextEnv):
    """The shared rollout; a subclass names its roles, labels, row and prompts."""

    human: ClassVar[str]
    partner: ClassVar[str]
    labels: ClassVar[tuple[str, ...]]
    turn_limit_option: ClassVar[str]
    finalizes: ClassVar[bool] = False
    default_max_turns: ClassVar[int] = 100  # the human-turn limit ends the episode first
    # The document env's finalize step breaks rounds in which every agent acts once.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "is_parallelizable": False}

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            self.turn_limit_option: 8,
            "reward": "style",  # "style": mean of the components that apply; "odyssim": the original formula
            "judge_model": None,  # policy spec of the LLM judges (None: the local "tiny" model)
            "partner_model": None,  # policy spec of the tutor / assistant (None: "tiny")
            "penalize_flags": False,  # detector flags lower the reward (training); never in evaluation
        }
        if self.finalizes:
            defaults["finalize"] = True  # ask for the final document (needed by the document judge)
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"{self.env_id} got unknown options {sorted(unknown)}; known: {sorted(defaults)}")
        merged = {**defaults, **options}
        turns = merged[self.turn_limit_option]
        if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
            raise ValueError(f"{self.turn_limit_option} must be an integer >= 1, got {turns!r}")
        if merged["reward"] not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {merged['reward']!r}")
        if merged["reward"] == "odyssim" and self.finalizes and not merged["finalize"]:
            raise ValueError("reward='odyssim' rates the final document: it needs finalize=True")
        return merged

    def plays(self, scenario: Scenario) -> bool:
        # One file (the fixture, a published file) may hold the rows of both tasks; each env takes its own.
        return type(scenario.row) is self.row_model

    def policy_agents(self) -> tuple[str, ...]:
        return (self.human,)

    def default_policies(self) -> dict[str, Any]:
        return {self.partner: self.options["partner_model"] or DEFAULT_PARTNER_MODEL}

    def _on_reset(self) -> None:
        self._ending: str | None = None  # why the conversation ended, while the finalize step runs

    def make_scheduler(self) -> Scheduler:
        return TakeTurns(self.human, self.partner, lambda: self._ending is not None)

    def human_turns(self) -> int:
        return sum(1 for e in self.log if e.source == self.human and e.kind == "message")

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        if event.source == agent:
            if event.kind == "message" and agent == self.human and event.payload.get("label"):
                return "assistant", f"{event.payload['label']}: {event.text}"
            if event.kind in ("message", "action"):
                return "assistant", event.text
            if event.kind == "invalid_action":
                return "assistant", str(event.payload.get("raw"))
            return None
        if event.kind != "message":
            return None
        if agent == self.partner and event.payload.get("opening"):
            return "user", self.partner_first_message(event.text)
        return "user", event.text

    def turn_prompt(self, agent: str) -> str | None:
        if agent == self.partner and self._ending is not None:
            return prompts.FINALIZE
        return None

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        if agent == self.partner:
            if not text.strip():
                return Invalid("empty reply")
            if self._ending is not None:
                return [Emit("message", {"text": text, "final_document": True}, (self.partner,))]
            return [Emit("message", {"text": text})]
        payload = human_message(text, self.labels)
        if isinstance(payload, Invalid):
            return payload
        if payload.get("terminate"):
            return [Emit("action", payload, (self.human,))]
        if self.human_turns() == 0:
            payload["opening"] = True
        return [Emit("message", payload)]

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        last = emitted[-1]
        if agent == self.partner:
            if last.kind == "invalid_action":
                return f"invalid {self.partner} reply"
            if self._ending is not None:
                return self._ending
            if self.human_turns() >= self.options[self.turn_limit_option]:
                return self._end_or_finalize("max_turns")
            return None
        if last.kind == "invalid_action":
            return self._end_or_finalize("invalid")
        if last.payload.get("terminate"):
            return self._end_or_finalize(f"{self.human}_end")
        return None

    def _end_or_finalize(self, reason: str) -> str | None:
        """End now, or (document env, finalize on, a conversation to finalize) after the finalize step."""
        if self.finalizes and self.options["finalize"] and self.human_turns() > 0:
            self._ending = reason
            return None
        return reason

    def default_judge(self) -> Any:
        return default_judge(
            self.options["judge_model"],
            reward=self.options["reward"],
            penalize_flags=self.options["penalize_flags"],
        )

    @abstractmethod
    def partner_first_message(self, message: str) -> str:
        """The partner's view of the human's first message: the task template around it."""


class MathEnv(SimArenaEnv):
    env_id: ClassVar[str] = "soul/simarena-math-v0"
    roles: ClassVar[tuple[str, ...]] = ("student", "tutor")
    row_model = MathRow
    data_source: ClassVar[str] = MATH_SOURCES[0]
    data_source_aliases: ClassVar[tuple[str, ...]] = MATH_SOURCES[1:]
    human: ClassVar[str] = "student"
    partner: ClassVar[str] = "tutor"
    labels: ClassVar[tuple[str, ...]] = ("Response", "Query")
    turn_limit_option: ClassVar[str] = "max_student_turns"

    def system_prompt(self, agent: str) -> str:
        return prompts.student_system_prompt(self.row) if agent == "student" else prompts.TUTOR_SYSTEM

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", prompts.student_opening(self.row))] if agent == "student" else ()

    def partner_first_message(self, message: str) -> str:
        return prompts.tutor_first_message(self.row, message)


class DocEnv(SimArenaEnv):
    env_id: ClassVar[str] = "soul/simarena-doc-v0"
    roles: ClassVar[tuple[str, ...]] = ("user", "assistant")
    row_model = DocRow
    data_source: ClassVar[str] = DOC_SOURCES[0]
    data_source_aliases: ClassVar[tuple[str, ...]] = DOC_SOURCES[1:]
    human: ClassVar[str] = "user"
    partner: ClassVar[str] = "assistant"
    labels: ClassVar[tuple[str, ...]] = ("Message",)
    turn_limit_option: ClassVar[str] = "max_user_turns"
    finalizes: ClassVar[bool] = True

    def system_prompt(self, agent: str) -> str:
        return prompts.user_system_prompt(self.row) if agent == "user" else prompts.ASSISTANT_SYSTEM

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        return [("user", prompts.user_opening(self.row))] if agent == "user" else ()

    def partner_first_message(self, message: str) -> str:
        return prompts.assistant_first_message(self.row, message)


math_env, math_raw_env, math_parallel_env = env_factories(MathEnv)
doc_env, doc_raw_env, doc_parallel_env = env_factories(DocEnv)
