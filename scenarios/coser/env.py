"""``soul/coser-v0``: characters from a book act out a scene with a narrator and a director
(docs/tasks.md#coser).

Roles are per row: ``character:<name>`` for every speaking character (policy roles; one policy plays
all of them by default, ``policy_characters`` picks some), ``environment`` (the narrator) and
``director`` (picks the next speaker after every round). A round is one turn of a character or the
environment. The director may end the scene only after ``min_rounds_before_end`` rounds; an unknown
name, the current speaker or an early end falls back to a uniform draw (``system_notice``). The episode
ends when the director ends the scene, after ``max_rounds`` rounds, after three invalid actions in a
row, or (``failed``) when an auxiliary call fails. Inner thoughts (``[...]``) are private events of
their author.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import ENV_SOURCE, Event
from osim_env.factories import env_factories
from osim_env.scheduling import DirectorChoice, Scheduler
from scenarios.coser import prompts
from scenarios.coser.judge import CHARACTER_PREFIX, DIRECTOR, ENVIRONMENT_ROLE, default_judge, speaker_name
from scenarios.coser.schema import ENVIRONMENT, CoSERRow

DEFAULT_MAX_ROUNDS = 20
DEFAULT_PARTNER_MODEL = "tiny"
MAX_INVALID_IN_A_ROW = 3
SCORING = ("flaws", "anchored")
_THOUGHT = re.compile(r"\[([^\[\]]*)\]")
_ACTION = re.compile(r"\(([^()]*)\)")
_NEXT = re.compile(r"next\s*speaker\s*[:：]\s*(.*)", re.IGNORECASE)
_END = re.compile(r"<\s*end\s*chat\s*>", re.IGNORECASE)
_MARKDOWN = re.compile(r"[*_`#]")


def role_of(name: str) -> str:
    """The agent that plays a speaker of the scene (``Environment`` -> ``environment``)."""
    return ENVIRONMENT_ROLE if name == ENVIRONMENT else f"{CHARACTER_PREFIX}{name}"


class Turn(NamedTuple):
    """A character's turn split into its parts: ``visible`` is the text as written without thoughts."""

    thought: str
    visible: str
    speech: str
    action: str


def split_turn(text: str, name: str) -> Turn:
    """``[...]`` is thought, ``(...)`` is action, the rest is speech. An unclosed ``[`` makes the rest of
    the text thought; a leading ``Name:`` is dropped."""
    thoughts = [t.strip() for t in _THOUGHT.findall(text)]
    visible = _THOUGHT.sub(" ", text)
    if "[" in visible:
        visible, _, rest = visible.partition("[")
        thoughts.append(rest.strip())
    visible = " ".join(visible.replace("]", " ").split())
    if visible.lower().startswith(f"{name.lower()}:"):
        visible = visible[len(name) + 1 :].strip()
    actions = [a.strip() for a in _ACTION.findall(visible) if a.strip()]
    speech = " ".join(_ACTION.sub(" ", visible).split())
    return Turn(" ".join(t for t in thoughts if t), visible, speech, " ".join(actions))


def turn_events(name: str, text: str, *, wo_thought: bool, extra: dict[str, Any]) -> list[Emit]:
    """The events of a character's turn: its thought (visible to the author only; dropped and flagged
    with ``wo_thought``), then what the others see (speech and actions as written). No speech and no
    action: no events."""
    turn = split_turn(text, name)
    if not turn.speech and not turn.action:
        return []
    payload = {"text": turn.visible, "speech": turn.speech, "action": turn.action, **extra}
    emits = []
    if turn.thought and wo_thought:
        payload["thought_removed"] = True
    elif turn.thought:
        emits.append(Emit("message", {"thought": turn.thought, **extra}, (role_of(name),)))
    emits.append(Emit("message" if turn.speech else "action", payload))
    return emits


def director_choice(text: str, roles_by_name: dict[str, str]) -> tuple[str | None, bool]:
    """(next speaker, end of scene) from the director's text: the last ``Next Speaker: <name>`` line
    or ``<END CHAT>``, whichever comes last (markdown and case tolerated). A name that is no speaker
    is returned as written (the scheduler falls back); no choice at all is ``None``."""
    plain = _MARKDOWN.sub("", text)
    choice: str | None = None
    choice_at, end_at = -1, -1
    for m in _NEXT.finditer(plain):
        named = m.group(1).splitlines()[0] if m.group(1) else ""
        choice, choice_at = named.strip().strip(" .,:;!\"'“”[]()<>"), m.start()
    for m in _END.finditer(plain):
        end_at = m.start()
    if end_at > choice_at:
        return None, True
    if choice is None:
        return None, False
    return roles_by_name.get(choice.lower(), choice), False


class CoSEREnv(TextEnv):
    env_id: ClassVar[str] = "soul/coser-v0"
    row_model = CoSERRow
    default_max_turns: ClassVar[int] = 2 * DEFAULT_MAX_ROUNDS  # a round and a director turn each
    # The director picks who acts, so agents do not act in a cycle: no parallel view.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "is_parallelizable": False}

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "max_rounds": DEFAULT_MAX_ROUNDS,
            "min_rounds_before_end": 5,
            "policy_characters": None,  # names; None: every character is a policy role
            "continue_from": None,  # None: the row's continue_from
            "wo_thought": None,  # None: the row's wo_thought
            "scoring": "flaws",
            "judge_model": None,  # policy spec of the LLM judge (None: the local "tiny" model)
            "partner_model": None,  # policy spec of the auxiliary roles (None: the local "tiny" model)
        }
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"soul/coser-v0 got unknown options {sorted(unknown)}; known: {sorted(defaults)}")
        merged = {**defaults, **options}
        if not isinstance(merged["max_rounds"], int) or merged["max_rounds"] < 1:
            raise ValueError(f"max_rounds must be a positive integer, got {merged['max_rounds']!r}")
        if 2 * merged["max_rounds"] > self.max_turns:
            raise ValueError(
                f"max_rounds={merged['max_rounds']} needs max_turns >= {2 * merged['max_rounds']} "
                f"(a round and a director turn each), got {self.max_turns}"
            )
        if not isinstance(merged["min_rounds_before_end"], int) or merged["min_rounds_before_end"] < 0:
            raise ValueError("min_rounds_before_end must be a non-negative integer")
        if merged["continue_from"] is not None and (
            not isinstance(merged["continue_from"], int) or merged["continue_from"] < 0
        ):
            raise ValueError(f"continue_from must be a non-negative integer, got {merged['continue_from']!r}")
        characters = merged["policy_characters"]
        if characters is not None:
            if isinstance(characters, str) or not all(isinstance(c, str) for c in characters):
                raise ValueError("policy_characters must be a list of character names")
            merged["policy_characters"] = list(characters)
        if merged["scoring"] not in SCORING:
            raise ValueError(f"scoring must be one of {SCORING}, got {merged['scoring']!r}")
        return merged

    # -- roles ------------------------------------------------------------------------------------------
    def possible_roles(self) -> Sequence[str]:
        # Every character of every row this env can play (one row, or the fixture), then the narrator
        # and the director.
        characters = [
            role_of(name) for s in self.candidate_scenarios() for name in s.row.circumstance.characters
        ]
        return [*dict.fromkeys(characters), ENVIRONMENT_ROLE, DIRECTOR]

    def episode_roles(self) -> Sequence[str]:
        return [*(role_of(n) for n in self.row.circumstance.characters), ENVIRONMENT_ROLE, DIRECTOR]

    def _characters(self) -> list[str]:
        if self.scenario is None:
            return [a for a in self.possible_agents if a.startswith(CHARACTER_PREFIX)]
        return [role_of(n) for n in self.row.circumstance.characters]

    def policy_agents(self) -> tuple[str, ...]:
        chosen = self.options["policy_characters"]
        characters = self._characters()
        if chosen is None:
            return tuple(characters)
        return tuple(role_of(n) for n in chosen if role_of(n) in characters)

    def default_policies(self) -> dict[str, Any]:
        partner = self.options["partner_model"] or DEFAULT_PARTNER_MODEL
        others = [*self._characters(), ENVIRONMENT_ROLE, DIRECTOR]
        return {role: partner for role in others if role not in self.policy_agents()}

    # -- row-derived settings -----------------------------------------------------------------------------
    @property
    def wo_thought(self) -> bool:
        option = self.options["wo_thought"]
        return self.row.wo_thought if option is None else bool(option)

    @property
    def continue_from(self) -> int:
        option = self.options["continue_from"]
        return self.row.continue_from if option is None else option

    # -- episode --------------------------------------------------------------------------------------------
    def _on_reset(self) -> None:
        self._cast = frozenset(self.agents)
        self._rounds = 0  # rounds acted in this episode (the scripted prefix excluded)
        self._invalid_run = 0  # consecutive invalid actions
        self._roles_by_name = {n.lower(): role_of(n) for n in self.row.circumstance.speaking_characters_w_env}

    def make_scheduler(self) -> Scheduler:
        c = self.row.circumstance
        speakers = [role_of(n) for n in c.speaking_characters_w_env]
        majors = [role_of(n) for n in c.major_characters if n in c.speaking_characters_w_env]
        first = DIRECTOR if self.continue_from else speakers[0]
        return DirectorChoice(
            DIRECTOR, speakers, first, on_fallback=self._fallback, fallback=[*majors, ENVIRONMENT_ROLE]
        )

    def _fallback(self, chosen: str, reason: str) -> None:
        name = speaker_name(chosen)
        notice = {"text": f"{reason}; {name} speaks next", "reason": reason, "next_speaker": chosen}
        self._emit(ENV_SOURCE, Emit("system_notice", notice, (DIRECTOR,)))

    def initial_events(self) -> Sequence[tuple[str, Emit]]:
        """The first ``continue_from`` reference lines, scripted, with the director's choices forced to
        the reference speakers."""
        lines = self.row.circumstance.dialogues
        n = self.continue_from
        if n > len(lines):
            raise ValueError(f"continue_from={n} but the reference dialogue has {len(lines)} lines")
        events: list[tuple[str, Emit]] = []
        for i, line in enumerate(lines[:n]):
            role = role_of(line.character)
            scripted = {"scripted": True}
            if role == ENVIRONMENT_ROLE:
                text = " ".join(_THOUGHT.sub(" ", line.message).split())
                events.append((role, Emit("narration", {"text": text, **scripted})))
            else:
                events += [
                    (role, e)
                    for e in turn_events(
                        line.character, line.message, wo_thought=self.wo_thought, extra=scripted
                    )
                ]
            if i + 1 < n:
                nxt = lines[i + 1].character
                choice = {"text": f"Next Speaker: {nxt}", "next_speaker": role_of(nxt), **scripted}
                events.append((DIRECTOR, Emit("message", choice, (DIRECTOR,))))
        return events

    # -- prompts ----------------------------------------------------------------------------------------
    def system_prompt(self, agent: str) -> str:
        if agent not in self._cast:
            return ""  # a character of another fixture row: not in this scene
        if agent == DIRECTOR:
            return prompts.director_system(self.row)
        if agent == ENVIRONMENT_ROLE:
            return prompts.environment_system(self.row)
        return prompts.character_system(self.row, str(speaker_name(agent)), self.wo_thought)

    def turn_prompt(self, agent: str) -> str | None:
        if agent == DIRECTOR:
            return prompts.director_turn(self._rounds, self.options["min_rounds_before_end"])
        if agent == ENVIRONMENT_ROLE:
            return prompts.environment_turn()
        return prompts.character_turn(str(speaker_name(agent)))

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        if agent not in self._cast:
            return None
        if event.kind == "system_notice":  # a fallback, shown to the director
            return "user", f"(Your choice could not be used: {event.text}.)"
        if event.kind == "invalid_action":  # shown to the actor only
            return "user", f"(Your last turn could not be used: {event.payload['reason']}.)"
        if event.source == DIRECTOR:  # the director's own choices
            return "assistant", event.text
        name = speaker_name(event.source)
        if name is None or event.kind not in ("message", "action", "narration"):
            return None
        if "thought" in event.payload:  # the author's own thought
            return "assistant", f"[{event.payload['thought']}]"
        if event.source == agent:
            return "assistant", event.text
        return "user", prompts.line(name, event.text)

    # -- actions ----------------------------------------------------------------------------------------
    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        if agent == DIRECTOR:
            return [self._director_event(text)]
        if agent == ENVIRONMENT_ROLE:
            narration = " ".join(_THOUGHT.sub(" ", text).split())
            if narration.lower().startswith(f"{ENVIRONMENT.lower()}:"):
                narration = narration[len(ENVIRONMENT) + 1 :].strip()
            return [Emit("narration", {"text": narration})] if narration else Invalid("empty message")
        emits = turn_events(str(speaker_name(agent)), text, wo_thought=self.wo_thought, extra={})
        return emits or Invalid("empty message")

    def _director_event(self, text: str) -> Emit:
        choice, end = director_choice(text, self._roles_by_name)
        payload: dict[str, Any] = {"text": text.strip(), "next_speaker": choice, "end": end}
        minimum = self.options["min_rounds_before_end"]
        if end and self._rounds < minimum:
            payload["refused"] = f"the scene cannot end before round {minimum} (round {self._rounds})"
        return Emit("message", payload, (DIRECTOR,))

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        last = emitted[-1]
        self._invalid_run = self._invalid_run + 1 if last.kind == "invalid_action" else 0
        if agent != DIRECTOR:
            self._rounds += 1
        if self._invalid_run >= MAX_INVALID_IN_A_ROW:
            return "invalid actions"
        if agent == DIRECTOR and last.payload.get("end") and not last.payload.get("refused"):
            return "the director ended the scene"
        if agent != DIRECTOR and self._rounds >= self.options["max_rounds"]:
            return f"max_rounds ({self.options['max_rounds']}) reached"
        return None

    def default_judge(self) -> Any:
        return default_judge(self.options["judge_model"], scoring=self.options["scoring"])


env, raw_env, parallel_env = env_factories(CoSEREnv)
