"""The environment contract: a PettingZoo ``AECEnv`` whose state is an event log.

A scenario subclasses ``TextEnv`` and fills in a handful of hooks (roles, the system prompt of an
agent, how an event reads to an agent, how an action string becomes events, when the episode ends).
The base class owns everything that must be identical across tasks: seeding and episode ids, the
turn loop and PettingZoo bookkeeping, scheduling, rendering observations from the log, invalid
actions, truncation, judging at termination and rendering for humans.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np
from gymnasium.utils import seeding
from pettingzoo import AECEnv
from pettingzoo.utils.env import AECIterable
from pydantic import BaseModel

from osim_env.episode import EpisodeRecord, EpisodeStatus
from osim_env.events import Event, EventKind, EventLog
from osim_env.messages import Message
from osim_env.rows import Scenario, load_fixture, to_scenario
from osim_env.scheduling import ScheduledEvent, Scheduler, due
from osim_env.seeding import derive_seed, episode_id
from osim_env.spaces import UnicodeText, action_space, observation_space
from osim_env.thinking import strip_thinking

FEEDBACK_HEADING = "Feedback from a previous attempt"


class Emit(NamedTuple):
    """One event an action produces (the env fills in index, turn and source).

    A named tuple rather than a frozen dataclass: every action builds one, and a tuple is built
    several times faster.
    """

    kind: EventKind
    payload: dict[str, Any]
    visibility: tuple[str, ...] | None = None  # None: everyone present


@dataclass(frozen=True)
class Invalid:
    """An action the scenario could not parse; becomes an ``invalid_action`` event."""

    reason: str
    payload: dict[str, Any] = field(default_factory=dict)


Parsed = Sequence[Emit] | Invalid


class _View:
    """One agent's incrementally rendered prompt: the messages so far and how much of the log they
    cover. ``tail_role`` is the role of the last message rendered from the log (``None`` while there
    is only the fixed head: system prompt and preamble), so that merging consecutive lines of one
    side needs no look at the list."""

    __slots__ = ("cursor", "messages", "tail_role")

    def __init__(self, head: list[Message]) -> None:
        self.messages = head
        self.tail_role: str | None = None
        self.cursor = 0


class _AgentIterable(AECIterable):
    """PettingZoo's ``agent_iter`` iterable (the agent to act, until no agent is left or after
    ``max_iter`` steps) whose iterator is a generator: resuming one costs a fraction of the Python
    ``__next__`` call of PettingZoo's ``AECIterator``, once per step."""

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        env = self.env
        for _ in range(self.max_iter):
            if not env.agents:
                return
            yield env.agent_selection


class TextEnv(AECEnv, ABC):
    """Base class of every osim environment (turn-based chat, event log as state)."""

    # -- class configuration, set by each scenario -------------------------------------------------
    env_id: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ()
    row_model: ClassVar[type[BaseModel]]
    task_package: ClassVar[str] = ""  # e.g. "scenarios.sotopia": where data/fixture.jsonl lives
    default_max_turns: ClassVar[int] = 1
    # Who sees an agent's invalid action: only the actor, or everyone (rendered e.g. "X did nothing").
    invalid_visible_to_all: ClassVar[bool] = False
    max_action_length: ClassVar[int] = 16_384
    max_content_length: ClassVar[int] = 1_000_000
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "is_parallelizable": True}

    def __init__(
        self,
        scenario: Any = None,
        *,
        render_mode: str | None = None,
        judge: Any = None,
        max_turns: int | None = None,
        max_cycles: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.possible_agents = list(self.roles)
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
        self._judge = judge
        self._observation_spaces = {
            a: observation_space(tuple(self.roles), 4 * self.max_turns + 16, self.max_content_length)
            for a in self.possible_agents
        }
        self._action_spaces = {a: action_space(self.max_action_length) for a in self.possible_agents}
        self._text = UnicodeText(self.max_action_length)
        self.np_random_seed: int | None = None
        self._np_random: np.random.Generator | None = None
        self._np_random_pending = False  # reset(seed) happened; the Generator is not built yet
        self.log = EventLog()
        self.scenario: Scenario | None = None
        self._views: dict[str, _View] = {}
        self._plain_views: dict[str, _View] = {}

    # -- hooks a scenario implements ----------------------------------------------------------------
    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Check and complete task options (defaults included: the full set is stored)."""
        if options:
            raise TypeError(f"{type(self).__name__} got unknown options: {sorted(options)}")
        return options

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
    def system_prompt(self, agent: str) -> str: ...

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
    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed: ...

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        """Why the episode ends after ``agent`` acted (None: it goes on)."""
        return None

    def default_judge(self) -> Any:
        return None

    # -- PettingZoo API -----------------------------------------------------------------------------
    def observation_space(self, agent: str):  # type: ignore[override]
        return self._observation_spaces[agent]

    def action_space(self, agent: str):  # type: ignore[override]
        return self._action_spaces[agent]

    @property
    def np_random(self) -> np.random.Generator:
        # Built on first use: most turn-based episodes never draw, and a Generator costs more to
        # create than a whole turn. After reset(seed) it is seeded from that seed, as gymnasium's.
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

    def agent_iter(self, max_iter: int = 2**63) -> AECIterable:
        return _AgentIterable(self, max_iter)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        if seed is None:
            # Every episode gets a concrete seed so that it can be reproduced from its record.
            seed = int(self.np_random.integers(2**31 - 1))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.np_random_seed = int(seed)
        self._np_random, self._np_random_pending = None, True
        options = dict(options or {})
        if "scenario" in options:
            self._fixed_scenario = self._to_scenario(options["scenario"])
        self.scenario = self._fixed_scenario or self._draw_fixture_row()
        self.episode_id = episode_id(self.env_id, self.scenario.scenario_id, self.np_random_seed)

        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = self.rewards.copy()  # (a copy is cheaper than another fromkeys)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = self.terminations.copy()
        self.status: EpisodeStatus = "running"
        self.infos = {a: self._base_info() for a in self.agents}
        self.log = EventLog()
        self.turn = 0
        self.present: list[str] = list(self.agents)
        self.termination: str | None = None
        self.judgments: dict[str, Any] = {}
        self._views: dict[str, _View] = {}  # privileged renderings (observations)
        self._plain_views: dict[str, _View] = {}  # include_privileged=False (e.g. exports)
        self._on_reset()

        for source, emit in self.initial_events():
            self._emit(source, emit)
        feedback = options.get("feedback")
        if feedback:
            self._emit("env", Emit("feedback", {"text": str(feedback)}, tuple(self.policy_agents())))
        self._schedule = list(self.scheduled_events())
        if self._schedule:
            self._apply_scheduled(0)
        self._scheduler = self.make_scheduler()
        first = self._scheduler.first(self.present)
        if first is None:
            raise RuntimeError(f"{self.env_id}: the scheduler named no first agent")
        self.agent_selection = first

    def component_seed(self, *labels: Any) -> int:
        """A seed for another component of this episode (a partner's sampler, a judge's A/B order,
        a refined rollout), derived from the episode seed and ``labels``; never from global state."""
        return derive_seed(self.np_random_seed, self.env_id, *labels)

    def _on_reset(self) -> None:
        """Per-episode state of a scenario (called after the base state is reset)."""

    def observe(self, agent: str) -> dict[str, Any]:
        return {"messages": self.messages_for(agent), "agent": agent, "turn": self.turn}

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        # Rewards are only ever set at termination, so while the episode runs they are all zero
        # already: nothing to clear or accumulate on this hot path.
        if type(action) is str and ">" not in action and len(action) <= self.max_action_length:
            # The common action, handled here rather than in _act (a call less per step): a plain
            # string (no think tags: no ">" at all) within the limit that parses to one event.
            parsed = self.parse_action(agent, action, "")
            if type(parsed) is list and len(parsed) == 1:
                kind, payload, visibility = parsed[0]  # _emit, inlined
                if visibility is None and len(self.present) != len(self.agents):
                    visibility = tuple(self.present)
                # The first event of every action carries the action string: replay re-steps it.
                # (dict(...) with keywords builds this in one call; {**payload, ...} takes two merges.)
                payload = dict(payload, raw=action, thinking="")
                emitted = [self.log.append(kind, agent, payload, turn=self.turn, visibility=visibility)]
            else:
                emitted = self._parsed_events(agent, action, "", parsed)
        else:
            emitted = self._act(agent, action)
        turn = self.turn = self.turn + 1
        reason = self.end_reason(agent, emitted)
        if reason is None and turn < self.max_turns:
            if self._schedule:
                self._apply_scheduled(turn)
            scheduler = self._scheduler
            rng = self.np_random if scheduler.uses_rng else None
            next_agent = scheduler.next(self.log, agent, self.present, rng)  # type: ignore[arg-type]
            if next_agent is not None:
                # Only the actor's info changes while the episode runs (it may carry an invalid reason).
                last = emitted[-1]
                if last.kind == "invalid_action":
                    self.infos[agent] = {**self._base_info(), "invalid_reason": last.payload["reason"]}
                elif "invalid_reason" in self.infos[agent]:
                    self.infos[agent] = self._base_info()
                self.agent_selection = next_agent
                if self.render_mode == "human":
                    self.render()
                return
            reason = "schedule finished"
        truncated = reason is None
        self._finish(reason or f"max_turns ({self.max_turns}) reached", truncated)
        self.agent_selection = self.agents[(self.agents.index(agent) + 1) % len(self.agents)]
        self._accumulate_rewards()
        last = emitted[-1]
        if last.kind == "invalid_action":
            self.infos[agent] = {**self.infos[agent], "invalid_reason": last.payload["reason"]}
        if self.render_mode == "human":
            self.render()

    def abort(self, reason: str) -> None:
        """End the episode as ``failed`` (e.g. an auxiliary policy call failed after its retries).

        Nothing is judged and nothing is added to the conversation; the reason is in the ``end``
        event, ``status`` and ``infos``.
        """
        if self._done():
            return
        self.termination = reason
        self.log.append("end", "env", {"reason": reason, "failed": True}, turn=self.turn)
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
        if agent is None:
            self._views.clear()
            self._plain_views.clear()
        else:
            self._views.pop(agent, None)
            self._plain_views.pop(agent, None)

    # -- episode record -----------------------------------------------------------------------------
    def episode_record(self) -> EpisodeRecord:
        assert self.scenario is not None, "reset() first"
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

    # -- observation rendering ----------------------------------------------------------------------
    def messages_for(self, agent: str, *, include_privileged: bool = True) -> list[dict[str, str]]:
        """The agent's chat prompt rendered from the log (incrementally; replay-stable)."""
        views = self._views if include_privileged else self._plain_views
        view = views.get(agent)
        if view is None:
            view = views[agent] = self._new_view(agent, include_privileged)
        log = self.log  # hot path: skip the Sequence protocol, read fields from the field dicts
        events, fields = log._events, log._fields
        n, cursor, cached = len(events), view.cursor, view.messages
        if cursor < n:
            tail_role, render = view.tail_role, self.render_event
            for i in range(cursor, n):
                event_fields = fields[i]
                visibility = event_fields["visibility"]
                if (visibility is not None and agent not in visibility) or event_fields["kind"] == "feedback":
                    continue
                rendered = render(agent, events[i])
                if rendered is None:
                    continue
                role, text = rendered
                # Consecutive lines of one side form one message (never merged into the fixed head).
                if role == tail_role:
                    cached[-1] = Message(role=role, content=cached[-1]["content"] + "\n" + text)
                else:
                    cached.append(Message(role=role, content=text))
                    tail_role = role
            view.tail_role, view.cursor = tail_role, n
        # Messages are read-only and shared with the cache; the list itself is the caller's.
        messages = cached.copy()
        if agent == self.agent_selection and self.status == "running":
            prompt = self.turn_prompt(agent)
            if prompt:
                last = messages[-1] if messages else None
                if last is not None and last["role"] == "user":
                    messages[-1] = Message(role="user", content=f"{last['content']}\n\n{prompt}")
                else:
                    messages.append(Message(role="user", content=prompt))
        return messages

    def _new_view(self, agent: str, include_privileged: bool) -> _View:
        """The fixed head of an agent's prompt: system prompt (with feedback notes when privileged)
        and preamble; they depend on the row and reset-time events only."""
        system = self.system_prompt(agent)
        if include_privileged:
            notes = [e.text for e in self.log._events if e.kind == "feedback" and e.visible_to(agent)]
            if notes:
                system += f"\n\n## {FEEDBACK_HEADING}\n" + "\n\n".join(notes)
        head = [Message(role="system", content=system)] if system else []
        for role, text in self.preamble(agent):
            head.append(Message(role=role, content=text))
        return _View(head)

    def transcript_text(self) -> str:
        """A readable transcript with each event's visibility (for render and debugging)."""
        if self.scenario is None:
            return f"{self.env_id} (not reset)"
        lines = [f"== {self.env_id} | scenario {self.scenario.scenario_id} | episode {self.episode_id} =="]
        for e in self.log:
            seen = "all" if e.visibility is None else ",".join(e.visibility)
            body = e.text or json.dumps(e.payload, ensure_ascii=False, sort_keys=True)
            lines.append(f"[{e.index:03d} t{e.turn:02d} {e.kind} {e.source} -> {seen}] {body}")
        if self._done():
            lines.append(f"== {self.status}: {self.termination} ==")
        return "\n".join(lines)

    # -- internals ----------------------------------------------------------------------------------
    def _done(self) -> bool:
        return self.status != "running"

    def _base_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"episode_id": self.episode_id}
        if self.status != "running":
            info["status"] = self.status
            info["termination"] = self.termination
        return info

    def _emit(self, source: str, emit: Emit, payload: dict[str, Any] | None = None) -> Event:
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

    def _invalid(self, agent: str, reason: str, payload: dict[str, Any]) -> Event:
        visibility = None if self.invalid_visible_to_all else (agent,)
        return self._emit(agent, Emit("invalid_action", {"reason": reason, **payload}, visibility))

    def _act(self, agent: str, action: Any) -> list[Event]:
        """The events of an action that is not a plain string within the limit (step handles those):
        a non-string, an over-long string or one that may hold think tags."""
        if not isinstance(action, str):
            raw = action if action is None else repr(action)
            return [
                self._invalid(agent, f"action must be a string, got {type(action).__name__}", {"raw": raw})
            ]
        if len(action) > self.max_action_length:
            return [
                self._invalid(
                    agent,
                    f"action is {len(action)} characters; the limit is {self.max_action_length}",
                    {"raw": action},
                )
            ]
        visible, thinking, error = strip_thinking(action)
        if error is not None:
            return [self._invalid(agent, error, {"raw": action, "thinking": thinking})]
        return self._parsed_events(agent, action, thinking, self.parse_action(agent, visible, thinking))

    def _parsed_events(self, agent: str, action: str, thinking: str, parsed: Parsed) -> list[Event]:
        if isinstance(parsed, Invalid):
            return [
                self._invalid(agent, parsed.reason, {"raw": action, "thinking": thinking, **parsed.payload})
            ]
        if not parsed:
            raise RuntimeError(f"{type(self).__name__}.parse_action returned no events for {agent!r}")
        # The first event of every action carries the action string: replay re-steps it.
        first = parsed[0]
        events = [self._emit(agent, first, dict(first.payload, raw=action, thinking=thinking))]
        events.extend(self._emit(agent, emit) for emit in parsed[1:])
        return events

    def _apply_scheduled(self, turn: int) -> None:
        for item in due(self._schedule, turn):
            if item.kind == "join" and item.agent not in self.present:
                self.present.append(item.agent)
                self.present.sort(key=self.possible_agents.index)
            self.log.append(item.kind, item.agent, dict(item.payload), turn=turn, visibility=None)
            if item.kind == "leave" and item.agent in self.present:
                self.present.remove(item.agent)

    def _finish(self, reason: str, truncated: bool) -> None:
        self.termination = reason
        self.log.append("end", "env", {"reason": reason, "truncated": truncated}, turn=self.turn)
        self.status = "ok"
        if self._judge is None:  # built once per env and reused across its episodes
            self._judge = self.default_judge()
        judge = self._judge
        if judge is False or judge is None:
            self.status = "unjudged"
        else:
            self.judgments = self._run_judge(judge)
            for agent, judgment in self.judgments.items():
                if agent in self.rewards and getattr(judgment, "score", None) is not None:
                    self.rewards[agent] = float(judgment.score)
            if any(getattr(j, "error", None) for j in self.judgments.values()):
                self.status = "judge_error"
        for a in self.agents:
            if truncated:
                self.truncations[a] = True
            else:
                self.terminations[a] = True
            self.infos[a] = self._base_info()
            judgment = self.judgments.get(a)
            if judgment is not None:
                self.infos[a]["score"] = judgment.score
                if judgment.error:
                    self.infos[a]["judge_error"] = judgment.error

    def _run_judge(self, judge: Any) -> dict[str, Any]:
        record = self.episode_record()
        if hasattr(judge, "judge_episode"):
            return dict(judge.judge_episode(record))
        if callable(judge):
            return dict(judge(record))
        raise TypeError(f"judge must have judge_episode(record) or be callable, got {type(judge).__name__}")

    def _draw_fixture_row(self) -> Scenario:
        if self._fixture is None:
            self._fixture = load_fixture(self.task_package, self.row_model, self.data_source())
        return self._fixture[int(self.np_random.integers(len(self._fixture)))]

    def _to_scenario(self, value: Any) -> Scenario:
        if isinstance(value, int) and not isinstance(value, bool):
            if self._fixture is None:
                self._fixture = load_fixture(self.task_package, self.row_model, self.data_source())
            return self._fixture[value]
        return to_scenario(value, self.row_model, self.data_source())

    @classmethod
    def data_source(cls) -> str:
        return cls.task_package.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        return self.env_id or type(self).__name__
