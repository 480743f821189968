"""The environment contract: a PettingZoo ``AECEnv`` whose state is an event log.

A scenario subclasses ``TextEnv`` and fills in a handful of hooks (roles, the system prompt of an
agent, how an event reads to an agent, how an action string becomes events, when the episode ends).
The base class owns everything that must be identical across tasks: seeding and episode ids, the
turn loop and PettingZoo bookkeeping, scheduling, rendering observations from the log, invalid
actions, truncation, judging at termination and rendering for humans.
"""

from __future__ import annotations

import importlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from gymnasium.utils import seeding
from pettingzoo import AECEnv
from pydantic import BaseModel

from osim_env.data import RowError, Scenario, fixture_path, to_scenario
from osim_env.episode import EpisodeRecord, EpisodeStatus
from osim_env.events import ENV_SOURCE, Event, EventKind, EventLog
from osim_env.messages import Message
from osim_env.scheduling import ScheduledEvent, Scheduler, due
from osim_env.seeding import derive_seed, episode_id
from osim_env.spaces import action_space, observation_space
from osim_env.thinking import strip_thinking
from osim_env.transcript import log_lines

FEEDBACK_HEADING = "Feedback from a previous attempt"
JUDGE_ERROR_MODES = ("warn", "raise")


class JudgeFailed(RuntimeError):
    """The episode's judge could not score it (raised at the end of the episode when the env was made
    with ``on_judge_error="raise"``). The episode is finished and its log is intact."""

    def __init__(self, env_id: str, episode_id: str, errors: Mapping[str, str]) -> None:
        self.env_id, self.episode_id, self.errors = env_id, episode_id, dict(errors)
        detail = "; ".join(f"{agent}: {error}" for agent, error in self.errors.items())
        super().__init__(f"{env_id} episode {episode_id}: the judge failed ({detail})")


class Emit(NamedTuple):
    """One event an action produces (the env fills in index, turn and source)."""

    kind: EventKind
    payload: dict[str, Any]
    visibility: tuple[str, ...] | None = None  # None: everyone present


@dataclass(frozen=True)
class Invalid:
    """An action the scenario could not parse; becomes an ``invalid_action`` event."""

    reason: str
    payload: dict[str, Any] = field(default_factory=dict)


Parsed = Sequence[Emit] | Invalid


@dataclass(slots=True)
class _View:
    """One agent's prompt rendered so far: rendering is incremental (each step renders only the new
    events), since a whole-log render per step would make an episode quadratic in its length.

    ``cursor`` is how much of the log ``messages`` covers; ``tail_role`` is the role of the last
    message rendered from the log (``None`` while there is only the fixed head: the system prompt
    and preamble, which a log line never merges into)."""

    messages: list[Message]
    cursor: int = 0
    tail_role: str | None = None


def _metadata_name(env_id: str) -> str:
    """PettingZoo's ``metadata["name"]`` for an env id: ``soul/sotopia-v0`` -> ``sotopia_v0``."""
    return env_id.rpartition("/")[2].replace("-", "_").replace(".", "_")


class TextEnv(AECEnv, ABC):
    """Base class of every osim environment (turn-based chat, event log as state).

    A task fills in the hooks below; ``docs/new-task.md`` walks through them with Hi-ToM as the
    worked example.
    """

    # -- class configuration, set by each task --------------------------------------------------------
    env_id: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ()
    row_model: ClassVar[type[BaseModel]]
    # Where data/fixture.jsonl lives; default: the package of the module that defines the env.
    task_package: ClassVar[str] = ""
    # The published layout's ``data_source`` value; default: the last part of ``task_package``.
    data_source: ClassVar[str] = ""
    # Other ``data_source`` values the published files use for the same task (file stems, old keys).
    data_source_aliases: ClassVar[tuple[str, ...]] = ()
    default_max_turns: ClassVar[int] = 1
    # Who sees an agent's invalid action: only the actor, or everyone (rendered e.g. "X did nothing").
    invalid_visible_to_all: ClassVar[bool] = False
    max_action_length: ClassVar[int] = 16_384
    max_content_length: ClassVar[int] = 1_000_000
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "is_parallelizable": True}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.task_package:
            cls.task_package = cls.__module__.rpartition(".")[0]
        if not cls.data_source:
            cls.data_source = cls.task_package.rpartition(".")[2]
        if cls.env_id and "name" not in cls.__dict__.get("metadata", {}):
            cls.metadata = {**cls.metadata, "name": _metadata_name(cls.env_id)}

    def __init__(
        self,
        scenario: Any = None,
        *,
        render_mode: str | None = None,
        judge: Any = None,
        on_judge_error: Literal["warn", "raise"] = "warn",
        max_turns: int | None = None,
        max_cycles: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if on_judge_error not in JUDGE_ERROR_MODES:
            raise ValueError(f"on_judge_error must be one of {JUDGE_ERROR_MODES}, got {on_judge_error!r}")
        self.render_mode = render_mode
        self.on_judge_error = on_judge_error
        if max_turns is not None and max_cycles is not None:
            raise ValueError("give max_turns or max_cycles, not both")
        if max_cycles is not None:  # PettingZoo's name: rounds in which every agent acts once
            max_turns = int(max_cycles) * len(self.roles)
        self.max_turns = int(max_turns if max_turns is not None else self.default_max_turns)
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {self.max_turns}")
        self.options = self.validate_options(dict(options))
        self._fixture: list[Scenario] | None = None
        self._fixed_scenario: Scenario | None = None if scenario is None else self._to_scenario(scenario)
        self.possible_agents = list(self.possible_roles())
        self._judge = judge
        self._observation_spaces = {
            a: observation_space(
                tuple(self.possible_agents), 4 * self.max_turns + 16, self.max_content_length
            )
            for a in self.possible_agents
        }
        self._action_spaces = {a: action_space(self.max_action_length) for a in self.possible_agents}
        self.np_random_seed: int | None = None
        self._np_random: np.random.Generator | None = None
        self._np_random_pending = False  # reset(seed) happened; the Generator is not built yet
        self.log = EventLog()
        self.scenario: Scenario | None = None
        self._system_prompts: dict[str, str] = {}  # per agent, for the current row
        self._views: dict[str, _View] = {}
        self._views_without_feedback: dict[str, _View] = {}

    # -- hooks a task implements ------------------------------------------------------------------------
    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Check and complete task options (defaults included: the full set is stored)."""
        if options:
            raise TypeError(f"{type(self).__name__} got unknown options: {sorted(options)}")
        return options

    def possible_roles(self) -> Sequence[str]:
        """Every role this env can have (PettingZoo's ``possible_agents``), asked once at construction
        (after the options and the fixed scenario are set): the class's ``roles``. A task whose roles
        come from the row (CoSER's characters) derives them from ``candidate_scenarios()``."""
        return self.roles

    def episode_roles(self) -> Sequence[str]:
        """The roles of the current episode (asked at reset, once the row is drawn): a subset of
        ``possible_agents``, all of them by default."""
        return self.possible_agents

    def candidate_scenarios(self) -> list[Scenario]:
        """The rows an episode of this env can be set up from: the fixed scenario, else the fixture."""
        return [self._fixed_scenario] if self._fixed_scenario is not None else self.fixture_rows()

    def fixture_rows(self) -> list[Scenario]:
        """The rows of the task's ``data/fixture.jsonl`` this env plays (``data_rows``; loaded once): one
        fixture serves every id of a package that registers several (docs/new-task.md)."""
        if self._fixture is None:
            path = fixture_path(self.task_package)
            self._fixture = self.data_rows(path)
            if not self._fixture:
                raise RowError(f"the fixture has no rows {self.env_id} plays", file=str(path))
        return self._fixture

    def data_rows(self, path: str | Path) -> list[Scenario]:
        """The rows of a task data file (Parquet or JSONL) that this env plays, read by its task
        package's ``load`` (the loader that also routes a file mixing the rows of several ids)."""
        load = importlib.import_module(self.task_package).load
        return [scenario for scenario in load(path) if self.plays(scenario)]

    def plays(self, scenario: Scenario) -> bool:
        """Whether this env plays ``scenario``: every row of its task by default. Ids that share one
        package's rows (HUMANUAL's domains, SimulatorArena's two settings) keep their own; a sweep over
        a published file that mixes them runs each row on its own id."""
        return True

    def policy_agents(self) -> tuple[str, ...]:
        """Agents that are trained / evaluated (the others are auxiliary roles)."""
        return tuple(self.roles)

    def default_policies(self) -> dict[str, Any]:
        """Auxiliary roles and the policy spec that plays them by default."""
        return {}

    @abstractmethod
    def make_scheduler(self) -> Scheduler: ...

    def scheduled_events(self) -> Sequence[ScheduledEvent]:
        return ()

    def initial_events(self) -> Sequence[tuple[str, Emit]]:
        """Events before the first turn, as (source, Emit) pairs."""
        return ()

    @abstractmethod
    def system_prompt(self, agent: str) -> str:
        """The agent's system prompt: a function of the row and the options only (the env asks once
        per agent and row, and reuses it for every episode on that row)."""

    @abstractmethod
    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        """How ``event`` reads to ``agent``: (chat role, text), or None to hide it."""

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        """Fixed chat messages after the system prompt, derived from the row (e.g. the question)."""
        return ()

    def turn_prompt(self, agent: str) -> str | None:
        """A trailing user-side instruction for the agent whose turn it is."""
        return None

    @abstractmethod
    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        """The events of an action (``text`` is the action with its thinking removed), or
        ``Invalid(reason)``."""

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        """Why the episode ends after ``agent`` acted (None: it goes on)."""
        return None

    def default_judge(self) -> Any:
        return None

    def _on_reset(self) -> None:
        """Per-episode state of a task (called after the base state is reset)."""

    # -- PettingZoo API -------------------------------------------------------------------------------
    def observation_space(self, agent: str):  # type: ignore[override]
        return self._observation_spaces[agent]

    def action_space(self, agent: str):  # type: ignore[override]
        return self._action_spaces[agent]

    @property
    def np_random(self) -> np.random.Generator:
        # Built on first use, as in gymnasium: most turn-based episodes never draw. After
        # reset(seed) it is seeded from that seed.
        if self._np_random is None:
            if self._np_random_pending:
                self._np_random, _ = seeding.np_random(self.np_random_seed)
                self._np_random_pending = False
            else:
                self._np_random, self.np_random_seed = seeding.np_random()
        return self._np_random

    @np_random.setter
    def np_random(self, value: np.random.Generator) -> None:
        self._np_random, self._np_random_pending = value, False

    @property
    def row(self) -> Any:
        """The current scenario's data row (an instance of ``row_model``)."""
        if self.scenario is None:
            raise RuntimeError(f"{self.env_id}: reset() first")
        return self.scenario.row

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        if seed is None:
            # Every episode gets a concrete seed so that it can be reproduced from its record.
            seed = int(self.np_random.integers(2**31 - 1))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.np_random_seed = int(seed)
        self._np_random, self._np_random_pending = None, True
        options = dict(options or {})
        if "scenario" in options:  # this episode only; later resets go back to the env's own rule
            scenario = self._to_scenario(options["scenario"])
        else:
            scenario = self._fixed_scenario or self._draw_fixture_row()
        # The episode's generator starts from the seed once the row is chosen, so what the episode
        # draws later (a director's fallback) is the same whether the row was drawn or given (replay).
        self._np_random, self._np_random_pending = None, True
        if scenario is not self.scenario:
            self._system_prompts = {}
        self.scenario = scenario
        self.episode_id = episode_id(self.env_id, self.scenario.scenario_id, self.np_random_seed)

        self.agents = list(self.episode_roles())
        self._add_possible_agents(self.agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.status: EpisodeStatus = "running"
        self.infos = {a: self._base_info() for a in self.agents}
        self.log = EventLog()
        self.turn = 0
        self.present: list[str] = list(self.agents)
        self.termination: str | None = None
        self.judgments: dict[str, Any] = {}
        self._judge_errors: dict[str, str] = {}
        self.reset_render_cache()
        self._on_reset()

        for source, emit in self.initial_events():
            self._emit(source, emit)
        feedback = options.get("feedback")
        if feedback:
            self._emit(ENV_SOURCE, Emit("feedback", {"text": str(feedback)}, tuple(self.policy_agents())))
        self._schedule = list(self.scheduled_events())
        self._apply_scheduled(0)
        self._scheduler = self.make_scheduler()
        first = self._scheduler.first(self.present)
        if first is None:
            raise RuntimeError(f"{self.env_id}: the scheduler named no first agent")
        self.agent_selection = first

    def _add_possible_agents(self, agents: Sequence[str]) -> None:
        """Roles of a scenario given at reset that this env did not know yet (a row with other
        characters) join ``possible_agents``, in place, with their spaces."""
        for agent in agents:
            if agent not in self.possible_agents:
                self.possible_agents.append(agent)
                self._observation_spaces[agent] = observation_space(
                    tuple(self.possible_agents), 4 * self.max_turns + 16, self.max_content_length
                )
                self._action_spaces[agent] = action_space(self.max_action_length)

    def component_seed(self, *labels: Any) -> int:
        """A seed for another component of this episode (a partner's sampler, a judge's A/B order,
        a refined rollout), derived from the episode seed and ``labels``; never from global state."""
        return derive_seed(self.np_random_seed, self.env_id, *labels)

    def observe(self, agent: str) -> dict[str, Any]:
        return {"messages": self.messages_for(agent), "agent": agent, "turn": self.turn}

    def step(self, action: Any) -> None:
        """One action of the selected agent: thinking is stripped, the task parses the rest into
        events, the events are appended, then the episode ends or the scheduler names who is next."""
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        # Rewards are only set when the episode ends, so while it runs there is nothing to clear.
        emitted = self._act(agent, action)
        self.turn += 1
        next_agent, reason = self._next_agent(agent, emitted)
        if next_agent is None:
            self._finish(reason or f"max_turns ({self.max_turns}) reached", truncated=reason is None)
            next_agent = self.agents[(self.agents.index(agent) + 1) % len(self.agents)]
            self._accumulate_rewards()
        self._note_invalid(agent, emitted[-1])
        self.agent_selection = next_agent
        if self.render_mode == "human":
            self.render()
        if self._judge_errors and self.on_judge_error == "raise":
            raise JudgeFailed(self.env_id, self.episode_id, self._judge_errors)

    def abort(self, reason: str) -> None:
        """End the episode as ``failed`` (e.g. an auxiliary policy call failed after its retries).

        Nothing is judged and nothing is added to the conversation; the reason is in the ``end``
        event, ``status`` and ``infos``.
        """
        if self._done():
            return
        self.termination = reason
        self.log.append("end", ENV_SOURCE, {"reason": reason, "failed": True}, turn=self.turn)
        self.status = "failed"
        for a in self.agents:
            self.terminations[a] = True
            self.rewards[a] = 0.0
            self.infos[a] = self._base_info()

    def render(self) -> str | None:
        text = self.transcript_text()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        self.reset_render_cache()

    def reset_render_cache(self, agent: str | None = None) -> None:
        """Drop the incremental observation cache (of one agent or all): the next observation is
        rendered from the whole log again (the conformance suite compares the two)."""
        for views in (self._views, self._views_without_feedback):
            if agent is None:
                views.clear()
            else:
                views.pop(agent, None)

    # -- episode record -------------------------------------------------------------------------------
    def episode_record(self) -> EpisodeRecord:
        if self.scenario is None:
            raise RuntimeError(f"{self.env_id}: reset() first")
        return EpisodeRecord(
            episode_id=self.episode_id,
            env_id=self.env_id,
            scenario_id=self.scenario.scenario_id,
            seed=self.np_random_seed,
            scenario=self.scenario.row.model_dump(mode="json"),
            options={"max_turns": self.max_turns, **self.options},
            agents=tuple(self.possible_agents),
            policy_agents=self.policy_agents(),
            events=tuple(self.log),
            status=self.status,
            termination=self.termination,
            truncated=any(self.truncations.values()),
        )

    # -- observation rendering ------------------------------------------------------------------------
    def messages_for(self, agent: str, *, with_feedback: bool = True) -> list[dict[str, str]]:
        """The agent's chat prompt rendered from the log (incrementally; replay-stable).

        ``with_feedback=False`` leaves out verbal feedback given at reset (what an exported
        training prompt must not contain)."""
        views = self._views if with_feedback else self._views_without_feedback
        view = views.get(agent)
        if view is None:
            view = views[agent] = _View(self._prompt_head(agent, with_feedback))
        self._render_new_events(agent, view)
        messages = list(view.messages)  # the messages are read-only and shared; the list is the caller's
        acting = agent == self.agent_selection and self.status == "running"
        prompt = self.turn_prompt(agent) if acting else None
        if prompt:
            if messages and messages[-1]["role"] == "user":
                messages[-1] = Message(role="user", content=f"{messages[-1]['content']}\n\n{prompt}")
            else:
                messages.append(Message(role="user", content=prompt))
        return messages

    def _render_new_events(self, agent: str, view: _View) -> None:
        """Append the events logged since ``view.cursor`` that ``agent`` may see; consecutive lines
        of one side form one message."""
        new_events = self.log[view.cursor :]
        for event in new_events:
            # (Event.visible_to, written out: this loop runs for every event every agent sees)
            if event.kind == "feedback" or (event.visibility is not None and agent not in event.visibility):
                continue
            rendered = self.render_event(agent, event)
            if rendered is None:
                continue
            role, text = rendered
            if role == view.tail_role:
                last = view.messages[-1]
                view.messages[-1] = Message(role=role, content=f"{last['content']}\n{text}")
            else:
                view.messages.append(Message(role=role, content=text))
                view.tail_role = role
        view.cursor += len(new_events)

    def _prompt_head(self, agent: str, with_feedback: bool) -> list[Message]:
        """The fixed head of an agent's prompt: the system prompt (with the feedback notes it was given,
        if asked) and the preamble; they depend on the row and reset-time events only."""
        system = self._system_prompts.get(agent)
        if system is None:
            system = self._system_prompts[agent] = self.system_prompt(agent)
        if with_feedback:
            notes = [e.text for e in self.log if e.kind == "feedback" and e.visible_to(agent)]
            if notes:
                system += f"\n\n## {FEEDBACK_HEADING}\n" + "\n\n".join(notes)
        head = [Message(role="system", content=system)] if system else []
        head += [Message(role=role, content=text) for role, text in self.preamble(agent)]
        return head

    def transcript_text(self) -> str:
        """A readable transcript with each event's visibility (for render and debugging)."""
        if self.scenario is None:
            return f"{self.env_id} (not reset)"
        lines = [f"== {self.env_id} | scenario {self.scenario.scenario_id} | episode {self.episode_id} =="]
        lines += log_lines(self.log)
        if self._done():
            lines.append(f"== {self.status}: {self.termination} ==")
        return "\n".join(lines)

    # -- internals ------------------------------------------------------------------------------------
    def _done(self) -> bool:
        return self.status != "running"

    def _base_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"episode_id": self.episode_id}
        if self.status != "running":
            info["status"] = self.status
            info["termination"] = self.termination
        return info

    def _emit(self, source: str, emit: Emit, payload: dict[str, Any] | None = None) -> Event:
        """Append one event; one with no visibility of its own is seen by the agents present."""
        visibility = emit.visibility
        if visibility is None and len(self.present) != len(self.agents):
            visibility = tuple(self.present)
        return self.log.append(
            emit.kind,
            source,
            emit.payload if payload is None else payload,
            turn=self.turn,
            visibility=visibility,
        )

    def _invalid(self, agent: str, reason: str, payload: dict[str, Any]) -> list[Event]:
        visibility = None if self.invalid_visible_to_all else (agent,)
        return [self._emit(agent, Emit("invalid_action", {"reason": reason, **payload}, visibility))]

    def _act(self, agent: str, action: Any) -> list[Event]:
        """The events of one action. The first event carries the exact action string
        (``payload["raw"]``) and its thinking, so that a replay can re-step it."""
        if not isinstance(action, str):
            raw = action if action is None else repr(action)
            return self._invalid(agent, f"action must be a string, got {type(action).__name__}", {"raw": raw})
        if len(action) > self.max_action_length:
            reason = f"action is {len(action)} characters; the limit is {self.max_action_length}"
            return self._invalid(agent, reason, {"raw": action})
        visible, thinking, error = strip_thinking(action)
        if error is not None:
            return self._invalid(agent, error, {"raw": action, "thinking": thinking})
        parsed = self.parse_action(agent, visible, thinking)
        if isinstance(parsed, Invalid):
            return self._invalid(
                agent, parsed.reason, {"raw": action, "thinking": thinking, **parsed.payload}
            )
        if not parsed:
            raise RuntimeError(f"{type(self).__name__}.parse_action returned no events for {agent!r}")
        first = parsed[0]
        events = [self._emit(agent, first, {**first.payload, "raw": action, "thinking": thinking})]
        for emit in parsed[1:]:
            events.append(self._emit(agent, emit))
        return events

    def _next_agent(self, agent: str, emitted: Sequence[Event]) -> tuple[str | None, str | None]:
        """(who acts next, None) while the episode goes on; (None, why it ends) when it ends, where
        a ``None`` reason means it ran out of turns (a truncation)."""
        reason = self.end_reason(agent, emitted)
        if reason is not None or self.turn >= self.max_turns:
            return None, reason
        self._apply_scheduled(self.turn)
        rng = self.np_random if self._scheduler.uses_rng else None
        next_agent = self._scheduler.next(self.log, agent, self.present, rng)  # type: ignore[arg-type]
        return next_agent, None if next_agent is not None else "schedule finished"

    def _note_invalid(self, agent: str, last: Event) -> None:
        """The actor's info says why its action was invalid, until its next valid action."""
        if last.kind == "invalid_action":
            self.infos[agent] = {**self.infos[agent], "invalid_reason": last.payload["reason"]}
        elif "invalid_reason" in self.infos[agent]:
            self.infos[agent] = self._base_info()

    def _apply_scheduled(self, turn: int) -> None:
        if not self._schedule:
            return
        for item in due(self._schedule, turn):
            if item.kind == "join" and item.agent not in self.present:
                self.present.append(item.agent)
                self.present.sort(key=self.possible_agents.index)
            self.log.append(item.kind, item.agent, dict(item.payload), turn=turn, visibility=None)
            if item.kind == "leave" and item.agent in self.present:
                self.present.remove(item.agent)

    def _finish(self, reason: str, truncated: bool) -> None:
        self.termination = reason
        self.log.append("end", ENV_SOURCE, {"reason": reason, "truncated": truncated}, turn=self.turn)
        self.status = "ok"
        if self._judge is None:  # built once per env and reused across its episodes
            self._judge = self.default_judge()
        if self._judge is False or self._judge is None:
            self.status = "unjudged"
        else:
            self._judge_episode(self._judge)
        for a in self.agents:
            if truncated:
                self.truncations[a] = True
            else:
                self.terminations[a] = True
            self.infos[a] = self._base_info()
            judgment = self.judgments.get(a)
            if judgment is not None:
                self.infos[a]["score"] = judgment.score
            if a in self._judge_errors:
                self.infos[a]["score"] = None
                self.infos[a]["judge_error"] = self._judge_errors[a]

    def _judge_episode(self, judge: Any) -> None:
        """Judge the finished episode: scores become rewards; a failed judgment (or a judge that
        raises) leaves the reward at 0.0, sets ``judge_error`` and warns (or raises, see ``step``)."""
        try:
            self.judgments = self._run_judge(judge)
        except Exception as exc:
            error = f"the judge raised {type(exc).__name__}: {exc}"
            self._judge_errors = dict.fromkeys(self.policy_agents(), error)
        else:
            for agent, judgment in self.judgments.items():
                if getattr(judgment, "error", None):
                    self._judge_errors[agent] = str(judgment.error)
                elif agent in self.rewards and getattr(judgment, "score", None) is not None:
                    self.rewards[agent] = float(judgment.score)
        if self._judge_errors:
            self.status = "judge_error"
            if self.on_judge_error == "warn":
                failure = JudgeFailed(self.env_id, self.episode_id, self._judge_errors)
                warnings.warn(
                    f"{failure}; the reward stays 0.0 and infos[agent]['score'] is None",
                    RuntimeWarning,
                    stacklevel=4,
                )

    def _run_judge(self, judge: Any) -> dict[str, Any]:
        record = self.episode_record()
        if hasattr(judge, "judge_episode"):
            return dict(judge.judge_episode(record))
        if callable(judge):
            return dict(judge(record))
        raise TypeError(f"judge must have judge_episode(record) or be callable, got {type(judge).__name__}")

    def _draw_fixture_row(self) -> Scenario:
        fixture = self.fixture_rows()
        return fixture[int(self.np_random.integers(len(fixture)))]

    def _to_scenario(self, value: Any) -> Scenario:
        """The scenario a caller gave (an index into the fixture, a row, a dict or a ``Scenario``),
        checked: a row this env does not play (another id of its package plays it) is a ``RowError``."""
        if isinstance(value, int) and not isinstance(value, bool):
            return self.fixture_rows()[value]
        scenario = to_scenario(value, self.row_model, (self.data_source, *self.data_source_aliases))
        if not self.plays(scenario):
            raise RowError(
                f"{self.env_id} does not play this row ({scenario.scenario_id}); another id of its task does"
            )
        return scenario

    def __str__(self) -> str:
        return self.env_id or type(self).__name__
