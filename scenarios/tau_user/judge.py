"""The tau-user judge (docs/tasks.md#tau-user-judge): task reward as tau2 grades it, human-likeness
features of the user's turns, and the reward mix.

- **Task reward**: 0 unless the user ended the conversation with a stop marker (tau2 scores a conversation
  that ran out of turns 0); otherwise the product of the components of the task's reward basis (default
  ``DB`` and ``COMMUNICATE``, as tau2). ``DB``: the agent's tool calls and the gold actions, each replayed on
  a fresh copy of the initial database, give the same canonical hash (when both make the same database
  writes in the same order the databases are equal without replaying anything). ``COMMUNICATE``: every
  required output appears (case-insensitive, commas ignored) in an agent message to the user. ``ACTION``:
  every gold action is among the agent's tool calls (name and arguments, or the gold's ``compare_args``).
  ``NL_ASSERTION``: an LLM judge answers ``{"assertions": [{"index", "met", "reason"}]}``; all met = 1. It is
  the only part that calls a model, and only for tasks whose basis has it; its failure is an error.
- **Human-likeness**: ``features.features`` of the user turns; with the row's ``human_targets``,
  ``human_likeness`` = mean Dice similarity over the targeted features.
- **Score** (``reward=``): ``"auto"`` (mean of task reward and human-likeness when targets exist, task reward
  otherwise), ``"task"``, ``"human_likeness"`` (an error without targets) or a weight dict over the two.
- **Detectors** annotate ``flags``: assistant register, repetition, length (a user turn over 80 words) and a
  stop marker in the first user turn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from judges.detectors import AssistantRegister, Detector, Flag, Length, Repetition, attach_flags
from judges.judgment import Judgment
from judges.llm import JudgeModel, LLMJudge, Query, Scored
from osim_env.episode import EpisodeRecord
from scenarios.tau_user.catalog import load_domain
from scenarios.tau_user.domain import Domain, GoldAction, TauTask
from scenarios.tau_user.features import STOP_MARKERS, clean_turns, features, human_likeness
from scenarios.tau_user.prompts import STOP_REASONS
from scenarios.tau_user.schema import TauUserRow

PROMPT_VERSION = "tau-user-v1"
REWARD_PARTS = ("task", "human_likeness")
MAX_USER_WORDS = 80
NL_SYSTEM = (
    "You grade a customer-service conversation. For each numbered assertion about the agent's behaviour, "
    "say whether the conversation meets it. Answer as JSON: "
    '{"assertions": [{"index": int, "met": bool, "reason": str}]}, one entry per assertion.'
)


# -- the reward -------------------------------------------------------------------------------------
def reward_weights(reward: str | Mapping[str, float], has_targets: bool = True) -> dict[str, float]:
    """The weights of the score's parts for ``reward=`` (checked at construction with ``has_targets``)."""
    if reward == "auto":
        return {"task": 0.5, "human_likeness": 0.5} if has_targets else {"task": 1.0}
    if isinstance(reward, str):
        if reward not in REWARD_PARTS:
            raise ValueError(
                f"reward must be 'auto', 'task', 'human_likeness' or a weight dict, got {reward!r}"
            )
        return {reward: 1.0}
    weights = {str(k): float(v) for k, v in dict(reward).items()}
    if (
        not weights
        or set(weights) - set(REWARD_PARTS)
        or min(weights.values()) < 0
        or sum(weights.values()) <= 0
    ):
        raise ValueError(
            f"reward weights must be non-negative, over {REWARD_PARTS}, not all 0; got {reward!r}"
        )
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


# -- reading an episode -----------------------------------------------------------------------------
def row_of(record: EpisodeRecord) -> TauUserRow:
    return TauUserRow.model_validate(record.scenario)


def user_messages(record: EpisodeRecord) -> list[str]:
    """The user's messages, stop markers included (the survey answer is not a message)."""
    return [e.text for e in record.events if e.source == "user" and e.kind == "message"]


def agent_messages(record: EpisodeRecord) -> list[str]:
    return [e.text for e in record.events if e.source == "agent" and e.kind == "message"]


def agent_calls(record: EpisodeRecord) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e.payload["name"], e.payload["arguments"])
        for e in record.events
        if e.source == "agent" and e.kind == "tool_call"
    ]


def ended_by_user_stop(record: EpisodeRecord) -> bool:
    return record.termination in STOP_REASONS.values()


# -- task reward components -------------------------------------------------------------------------
def _canonical(arguments: Mapping[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, default=str)


def _writes(domain: Domain, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, str]]:
    return [(name, _canonical(args)) for name, args in calls if name in domain.write_tools]


_INITIAL_HASHES: dict[str, str] = {}
_GOLD_HASHES: dict[tuple[str, str], str] = {}


def final_db_hash(domain: Domain, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """The database hash after replaying ``calls`` on a fresh copy (read-only tools change nothing, so
    only the writes are replayed; failed calls are replayed too, as tau2 does). Without writes it is the
    initial database's hash, computed once per domain and process."""
    writes = [(name, arguments) for name, arguments in calls if name in domain.write_tools]
    if not writes and domain.name in _INITIAL_HASHES:
        return _INITIAL_HASHES[domain.name]
    toolbox = domain.new_toolbox()
    for name, arguments in writes:
        toolbox.call(name, arguments)
    if not writes:
        _INITIAL_HASHES[domain.name] = toolbox.db_hash()
        return _INITIAL_HASHES[domain.name]
    return toolbox.db_hash()


def gold_db_hash(domain: Domain, task: TauTask) -> str:
    """The hash of the database after the gold actions (computed once per task and process)."""
    key = (domain.name, task.id)
    if key not in _GOLD_HASHES:
        _GOLD_HASHES[key] = final_db_hash(domain, [(a.name, a.arguments) for a in task.actions])
    return _GOLD_HASHES[key]


def db_match(domain: Domain, task: TauTask, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> bool:
    """Whether the agent's calls leave the database as the gold actions do."""
    gold = [(a.name, a.arguments) for a in task.actions]
    if _writes(domain, calls) == _writes(domain, gold):
        return True  # the same writes in the same order on the same database
    return final_db_hash(domain, calls) == gold_db_hash(domain, task)


def communicated(info: str, messages: Sequence[str]) -> bool:
    return any(info.lower() in m.lower().replace(",", "") for m in messages)


def action_matches(gold: GoldAction, name: str, arguments: Mapping[str, Any]) -> bool:
    """tau2's rule: same name; the arguments named in ``compare_args`` (None: the call's) are equal."""
    if gold.name != name:
        return False
    keys = set(arguments) if gold.compare_args is None else set(gold.compare_args)
    return {k: v for k, v in arguments.items() if k in keys} == {
        k: v for k, v in gold.arguments.items() if k in keys
    }


def rule_components(record: EpisodeRecord, task: TauTask, domain: Domain) -> dict[str, float]:
    """The rule parts of the reward basis (``db``, ``communicate``, ``action``) that the task uses."""
    calls = agent_calls(record)
    parts: dict[str, float] = {}
    if "DB" in task.reward_basis:
        parts["db"] = float(db_match(domain, task, calls))
    if "COMMUNICATE" in task.reward_basis:
        messages = agent_messages(record)
        parts["communicate"] = float(all(communicated(i, messages) for i in task.communicate_info))
    if "ACTION" in task.reward_basis:
        parts["action"] = float(all(any(action_matches(g, n, a) for n, a in calls) for g in task.actions))
    return parts


def needs_nl(record: EpisodeRecord, task: TauTask) -> bool:
    return "NL_ASSERTION" in task.reward_basis and bool(task.nl_assertions) and ended_by_user_stop(record)


# -- the NL assertion judge's answer ----------------------------------------------------------------
class AssertionVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    met: bool
    reason: str


class NLAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assertions: list[AssertionVerdict]


def transcript(record: EpisodeRecord) -> str:
    lines = []
    for e in record.events:
        if e.kind == "message":
            lines.append(f"{'Customer' if e.source == 'user' else 'Agent'}: {e.text}")
        elif e.kind == "tool_call":
            lines.append(f"Agent tool call: {e.payload['name']}({_canonical(e.payload['arguments'])})")
        elif e.kind == "tool_result":
            lines.append(f"Tool result: {e.text}")
    return "\n".join(lines)


def nl_score(task: TauTask, answer: NLAnswer) -> float:
    """1 when every assertion is met; an answer that skips or repeats an index is unusable (ValueError)."""
    indices = sorted(v.index for v in answer.assertions)
    if indices != list(range(len(task.nl_assertions))):
        raise ValueError(f"the NL judge answered indices {indices} for {len(task.nl_assertions)} assertions")
    return float(all(v.met for v in answer.assertions))


# -- detectors --------------------------------------------------------------------------------------
class StopInFirstTurn(Detector):
    """A user that ends the conversation in its first message (a premature stop)."""

    name = "stop_first_turn"

    def evidence(self, turns: Sequence[str]) -> list[str]:
        if turns and any(m in turns[0] for m in STOP_MARKERS):
            return [turns[0][:80]]
        return []


def detector_flags(record: EpisodeRecord) -> list[Flag]:
    raw = user_messages(record)
    turns = clean_turns(raw)
    shared = [AssistantRegister(), Repetition(), Length(max_words=MAX_USER_WORDS)]
    return [*(d.detect_turns(turns) for d in shared), StopInFirstTurn().detect_turns(raw)]


# -- the judge --------------------------------------------------------------------------------------
class TauUserJudge(LLMJudge):
    """Scores the ``user`` role; calls a model only for NL assertions in a task's reward basis."""

    kind: ClassVar[str] = "tau_user"
    version: ClassVar[str] = PROMPT_VERSION

    def __init__(
        self,
        model: JudgeModel = None,
        *,
        reward: str | Mapping[str, float] = "auto",
        penalize_flags: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(model, **kw)
        reward_weights(reward)
        self.reward = reward
        self.penalize_flags = penalize_flags

    def params(self) -> dict[str, Any]:
        return {"reward": self.reward}

    @property
    def cache_spec(self) -> dict[str, Any]:
        # The model is built only when an NL query is asked (rule-only tasks never build it).
        model = self._model.spec.model_dump(mode="json") if self._model is not None else self._model_arg
        return {"kind": self.kind, "version": self.version, "model": model or "tiny", **self.params()}

    def queries(self, record: EpisodeRecord) -> list[Query]:
        task = row_of(record).task()
        if not needs_nl(record, task):
            return []
        numbered = "\n".join(f"{i}. {a}" for i, a in enumerate(task.nl_assertions))
        text = transcript(record)
        messages = [
            {"role": "system", "content": NL_SYSTEM},
            {"role": "user", "content": f"## Conversation\n{text}\n\n## Assertions\n{numbered}"},
        ]
        return [Query("nl_assertions", messages, NLAnswer, text)]

    def score(self, record: EpisodeRecord, agent: str, answers: Mapping[str, BaseModel]) -> Scored:
        row = row_of(record)
        task, domain = row.task(), load_domain(row.domain)
        stopped = ended_by_user_stop(record)
        dims: dict[str, float] = {"ended_by_stop": float(stopped)}
        parts = rule_components(record, task, domain) if stopped else {}
        if "nl_assertions" in answers:
            parts["nl_assertion"] = nl_score(task, answers["nl_assertions"])  # type: ignore[arg-type]
        task_reward = 0.0
        if stopped:
            task_reward = 1.0
            for value in parts.values():
                task_reward *= value
        dims.update(parts)
        dims["task_reward"] = task_reward
        values = features(user_messages(record))
        dims.update(values)
        scores = {"task": task_reward}
        targets = row.human_targets or {}
        if targets:
            scores["human_likeness"] = dims["human_likeness"] = human_likeness(values, targets)
        weights = reward_weights(self.reward, has_targets=bool(targets))
        if "human_likeness" in weights and not targets:
            raise ValueError("reward needs human_likeness but the row has no human_targets")
        return Scored(score=sum(w * scores[k] for k, w in weights.items()), dims=dims)

    def _judgment(self, record: EpisodeRecord, agent: str, answers: Mapping[str, Any]) -> Judgment:
        judgment = super()._judgment(record, agent, answers)
        return attach_flags(judgment, detector_flags(record), penalize=self.penalize_flags)


def default_judge(
    model: JudgeModel = None, *, reward: str | Mapping[str, float] = "auto", penalize_flags: bool = False
) -> TauUserJudge:
    return TauUserJudge(model, reward=reward, penalize_flags=penalize_flags)
