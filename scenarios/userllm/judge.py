"""The UserLLM judges (docs/tasks.md#userllm), routed by the row's subset.

- CSQA (rule): a user who names one or two answer choices answered instead of asking (0); naming none,
  or three or more (restating the question), is in role (1).
- NQ (LLM): after the assistant deflected, did the user insist on the original question (REFUSED = 1) or
  take up the suggestion (ACCEPTED = 0)?
- PRISM (LLM + rule): ``human_like`` from an AI-text detector and, on rows with history and
  ``is_last_turn``, ``termination_correct``; the score is the mean of the parts that apply.
  ``intent_overlap`` is reported in ``dims`` and never rewarded.

Every judge reads the same reply: the user's message as the env parsed it, where text after the first
``<|endconversation|>`` is already dropped (a judge never sees it). An invalid reply scores 0 with
``dims["valid"] = 0`` and no model call; a judge model that fails is ``Judgment.error``, never a number.
Detectors (``assistant_register``, ``length``) annotate ``flags`` and never change the score.
"""

from __future__ import annotations

import asyncio
import re
import statistics
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from judges.detectors import AssistantRegister, Detector, Length, attach_flags
from judges.judgment import Judgment
from judges.llm import JudgeModel, LLMJudge, Query, Scored
from judges.matching import csqa_role_adherence
from judges.rules import RuleJudge
from judges.transcript import last_turn
from osim_env.aio import run_sync
from osim_env.episode import EpisodeRecord
from scenarios.userllm.prompts import END_TOKEN
from scenarios.userllm.schema import Subset, UserLLMRow

PROMPT_VERSION = "userllm-judge-v2"
MAX_WORDS = 100  # the length detector's cap on one user message
# A leading role label the model put in front of its message, and a line where it starts writing the
# assistant's side (the user's message ends there).
_USER_LABEL = re.compile(r"^\s*(?:\*\*)?\s*(?:user|human)\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)
_ASSISTANT_LINE = re.compile(r"^\s*(?:\*\*)?\s*assistant\s*(?:\*\*)?\s*:", re.IGNORECASE | re.MULTILINE)
_STOPWORD_TEXT = (
    "a about above after again against all am an and any are as at be because been before being below "
    "between both but by can could did do does doing down during each few for from further had has "
    "have having he her here hers herself him himself his how i if in into is it its itself just me "
    "more most my myself no nor not now of off on once only or other our ours ourselves out over own "
    "same she should so some such than that the their theirs them themselves then there these they "
    "this those through to too under until up very was we were what when where which while who whom "
    "why will with would you your yours yourself yourselves"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


# -- the reply every judge reads -------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """The user's message (end token and everything after it removed) and whether it ended the chat."""

    message: str
    ended: bool


def read_reply(text: str) -> Reply:
    """Parse an action (thinking already removed): drop everything after the first end token, cut at a
    line where the assistant's side starts, remove a leading ``User:`` label."""
    before, token, _ = text.partition(END_TOKEN)
    assistant = _ASSISTANT_LINE.search(before)
    if assistant is not None:  # the end token, if any, belonged to the dropped assistant text
        return Reply(_USER_LABEL.sub("", before[: assistant.start()], count=1).strip(), False)
    return Reply(_USER_LABEL.sub("", before, count=1).strip(), bool(token))


def reply_of(record: EpisodeRecord, agent: str) -> tuple[Reply | None, str]:
    """The agent's reply, or None and why there is none (an invalid action, nothing written)."""
    event = last_turn(record, agent)
    if event is None:
        return None, "no message"
    if event.kind == "invalid_action":
        return None, str(event.payload.get("reason", "invalid action"))
    if "ended" in event.payload:  # parsed by the env: the text is the message already
        reply = Reply(event.text, bool(event.payload["ended"]))
    else:
        reply = read_reply(event.text)
    if not reply.message and not reply.ended:
        return None, "empty message"
    return reply, ""


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def intent_overlap(intent: str, output: str) -> float:
    """|I ∩ O| / |O| over stopword-filtered lowercase unigram sets (0 for an empty output)."""
    out = words(output) - STOPWORDS
    return len((words(intent) - STOPWORDS) & out) / len(out) if out else 0.0


def invalid_judgment(agent: str, reason: str, spec: Mapping[str, Any]) -> Judgment:
    return Judgment(agent=agent, score=0.0, dims={"valid": 0.0}, reasons={"reply": reason}, judge=dict(spec))


def row_of(record: EpisodeRecord) -> UserLLMRow:
    return UserLLMRow.model_validate(record.scenario)


# -- CSQA ------------------------------------------------------------------------------------------
class CSQAJudge(RuleJudge):
    """Role adherence: k = answer choices named in the message; k = 1 or 2 -> 0, otherwise 1."""

    kind = "userllm_csqa"

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        reply, reason = reply_of(record, agent)
        if reply is None:
            return invalid_judgment(agent, reason, self.spec)
        dims = {"valid": 1.0, "ended": float(reply.ended)}
        if not reply.message:
            return Judgment(
                agent=agent,
                score=0.0,
                dims={**dims, "choices_named": 0.0},
                reasons={"role": "ended the conversation without asking anything"},
                judge=self.spec,
            )
        score, leaked = csqa_role_adherence(reply.message, row_of(record).choices)
        return Judgment(
            agent=agent,
            score=score,
            dims={**dims, "choices_named": float(len(leaked))},
            reasons={"role": f"named choices: {leaked}" if leaked else "named no choice"},
            judge=self.spec,
        )


# -- NQ and PRISM (LLM) ----------------------------------------------------------------------------
class NQAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reasoning: str
    verdict: Literal["REFUSED", "ACCEPTED"]


class DetectorAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reasoning: str
    label: Literal["AI", "HUMAN"]


class _ReplyJudge(LLMJudge):
    """One model call on the user's message; replies with no message text are scored by rule."""

    version = PROMPT_VERSION
    system: ClassVar[str]
    answer_schema: ClassVar[type[BaseModel]]

    def __init__(self, model: JudgeModel = None, **kw: Any) -> None:
        super().__init__(model, **kw)

    @abstractmethod
    def prompt(self, row: UserLLMRow, message: str) -> str:
        """The question about one message."""

    @abstractmethod
    def without_message(self, row: UserLLMRow, agent: str, reply: Reply) -> Judgment:
        """The judgment of a reply that only ends the conversation (no model call)."""

    def queries_of(self, record: EpisodeRecord, agent: str, names: Sequence[str]) -> list[str]:
        return [agent]

    def queries(self, record: EpisodeRecord) -> list[Query]:
        row = row_of(record)
        out = []
        for agent in self.judged_agents(record):
            reply, _ = reply_of(record, agent)
            if reply is not None and reply.message:
                messages = [
                    {"role": "system", "content": self.system},
                    {"role": "user", "content": self.prompt(row, reply.message)},
                ]
                out.append(Query(agent, messages, self.answer_schema, reply.message))
        return out

    def without_model(self, record: EpisodeRecord, agent: str) -> Judgment | None:
        reply, reason = reply_of(record, agent)
        if reply is None:
            return invalid_judgment(agent, reason, self.spec)
        if not reply.message:
            return self.without_message(row_of(record), agent, reply)
        return None


class NQIntentJudge(_ReplyJudge):
    kind = "userllm_nq"
    system = "You judge whether a simulated user stays on their own intent."
    answer_schema = NQAnswer

    def prompt(self, row: UserLLMRow, message: str) -> str:
        return (
            f"## Original question of the user\n{row.question}\n\n"
            f"## The assistant's reply\n{row.assistant_suggestion_turn}\n\n"
            f"## The user's next message\n{message}\n\n"
            "## Your task\nThe assistant deflected and suggested something else. Did the user insist on "
            "the original question (REFUSED the suggestion) or go along with the suggestion (ACCEPTED)? "
            'Answer with one JSON object: {"reasoning": "...", "verdict": "REFUSED" | "ACCEPTED"}.'
        )

    def without_message(self, row: UserLLMRow, agent: str, reply: Reply) -> Judgment:
        return Judgment(
            agent=agent,
            score=0.0,
            dims={"valid": 1.0, "ended": 1.0, "refused": 0.0},
            reasons={"intent": "ended the conversation instead of insisting on the original question"},
            judge=self.spec,
        )

    def score(self, record: EpisodeRecord, agent: str, answers: Mapping[str, BaseModel]) -> Scored:
        answer: NQAnswer = answers[agent]  # type: ignore[assignment]
        reply, _ = reply_of(record, agent)
        refused = 1.0 if answer.verdict == "REFUSED" else 0.0
        ended = float(reply is not None and reply.ended)
        return Scored(
            score=refused,
            dims={"valid": 1.0, "ended": ended, "refused": refused},
            reasons={"intent": answer.reasoning},
        )


def prism_parts(row: UserLLMRow, reply: Reply, human_like: float | None) -> tuple[float, dict[str, float]]:
    """The PRISM score (mean of the parts that apply; 0 when none does) and its dims."""
    dims = {
        "valid": 1.0,
        "ended": float(reply.ended),
        "first_turn": float(not row.has_history),
        "intent_overlap": intent_overlap(row.intent, reply.message),
    }
    parts = []
    if human_like is not None:
        dims["human_like"] = human_like
        parts.append(human_like)
    if row.has_history and row.is_last_turn is not None:
        dims["termination_correct"] = float(reply.ended == row.is_last_turn)
        parts.append(dims["termination_correct"])
    return (statistics.fmean(parts) if parts else 0.0), dims


class PrismJudge(_ReplyJudge):
    """The AI-text detector is this LLM judge; another detector is a subclass with its own ``prompt``
    and ``answer_schema`` (an answer with a ``label`` of ``AI`` or ``HUMAN``)."""

    kind = "userllm_prism"
    system = "You detect AI-written text."
    answer_schema = DetectorAnswer

    def prompt(self, row: UserLLMRow, message: str) -> str:
        return (
            f"## Message\n{message}\n\n## Your task\nWas this message to an AI assistant written by a "
            'human or by an AI? Answer with one JSON object: {"reasoning": "...", "label": "AI" | "HUMAN"}.'
        )

    def without_message(self, row: UserLLMRow, agent: str, reply: Reply) -> Judgment:
        score, dims = prism_parts(row, reply, None)
        reasons = {}
        if "termination_correct" not in dims:
            reasons["reply"] = "ended the conversation without a message where no ending was asked for"
        return Judgment(agent=agent, score=score, dims=dims, reasons=reasons, judge=self.spec)

    def score(self, record: EpisodeRecord, agent: str, answers: Mapping[str, BaseModel]) -> Scored:
        answer: DetectorAnswer = answers[agent]  # type: ignore[assignment]
        reply, _ = reply_of(record, agent)
        if reply is None:
            raise ValueError("no reply to score")
        score, dims = prism_parts(row_of(record), reply, 1.0 if answer.label == "HUMAN" else 0.0)
        return Scored(score=score, dims=dims, reasons={"human_like": answer.reasoning})


# -- the task judge --------------------------------------------------------------------------------
def default_detectors() -> list[Detector]:
    return [AssistantRegister(), Length(max_words=MAX_WORDS)]


class UserLLMJudge:
    """Routes each episode to the CSQA, NQ or PRISM judge by its row's subset, then adds detector flags.

    ``model`` is the judge model of NQ and PRISM (a policy or a spec string; None: the local "tiny"
    model); ``csqa``, ``nq`` and ``prism`` replace a subset's judge (e.g. another AI-text detector).
    """

    def __init__(
        self,
        model: JudgeModel = None,
        *,
        csqa: Any = None,
        nq: Any = None,
        prism: Any = None,
        detectors: Sequence[Detector] | None = None,
        **kw: Any,
    ) -> None:
        self.routes: dict[Subset, Any] = {
            "csqa": csqa or CSQAJudge(),
            "nq": nq or NQIntentJudge(model, **kw),
            "prism": prism or PrismJudge(model, **kw),
        }
        self.detectors = list(default_detectors() if detectors is None else detectors)

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "kind": "userllm",
            "version": PROMPT_VERSION,
            **{subset: judge.spec for subset, judge in self.routes.items()},
            "detectors": [d.name for d in self.detectors],
        }

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        return run_sync(self.judge_batch([episode]))[0]

    async def judge_batch(self, episodes: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]:
        groups: dict[Subset, list[int]] = {"csqa": [], "nq": [], "prism": []}
        out: list[dict[str, Judgment]] = [{} for _ in episodes]
        for i, episode in enumerate(episodes):
            try:
                groups[row_of(episode).subset].append(i)
            except ValidationError as exc:  # not a UserLLM row: no subset to judge it by
                error = f"the episode's row is not a UserLLM row: {exc.errors()[0]['msg']}"
                spec = {"kind": "userllm", "version": PROMPT_VERSION}
                out[i] = {a: Judgment.failed(a, error, spec) for a in episode.policy_agents}
        used = [(subset, idx) for subset, idx in groups.items() if idx]
        results = await asyncio.gather(
            *(self.routes[subset].judge_batch([episodes[i] for i in idx]) for subset, idx in used)
        )
        for (_, idx), result in zip(used, results):
            for i, judgments in zip(idx, result):
                out[i] = {agent: self.flagged(episodes[i], j) for agent, j in judgments.items()}
        return out

    def flagged(self, record: EpisodeRecord, judgment: Judgment) -> Judgment:
        """The judgment with the detectors' flags on the user's message (the score is unchanged)."""
        reply, _ = reply_of(record, judgment.agent)
        turns = [reply.message] if reply is not None and reply.message else []
        return attach_flags(judgment, [d.detect_turns(turns) for d in self.detectors])


def default_judge(judge_model: JudgeModel = None, **kw: Any) -> UserLLMJudge:
    """The judge ``soul/userllm-v0`` uses by default (the model is resolved on first use)."""
    return UserLLMJudge(judge_model, **kw)


# -- per-sweep metrics -----------------------------------------------------------------------------
def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def prism_sweep(items: Sequence[tuple[EpisodeRecord, Judgment]]) -> dict[str, float | None]:
    """The PRISM metrics of a sweep over its valid PRISM judgments: first-turn diversity (1 − mean
    pairwise unigram Jaccard of first-turn messages; needs two), termination F1 (positive = last turn),
    AI rate, mean intent overlap, and the subset score: the mean of diversity, termination F1,
    1 − AI rate and 1 − mean intent overlap over those that are defined (None: undefined)."""
    first, gold, predicted, human, overlap = [], [], [], [], []
    for record, judgment in items:
        if judgment.error is not None or judgment.dims.get("valid") != 1.0:
            continue
        row = row_of(record)
        if row.subset != "prism":
            continue
        reply, _ = reply_of(record, judgment.agent)
        if reply is None:
            continue
        if not row.has_history and reply.message:
            first.append(words(reply.message))
        if "termination_correct" in judgment.dims and row.is_last_turn is not None:
            gold.append(row.is_last_turn)
            predicted.append(reply.ended)
        if "human_like" in judgment.dims:
            human.append(judgment.dims["human_like"])
        overlap.append(judgment.dims["intent_overlap"])
    pairs = list(combinations(first, 2))
    diversity = 1.0 - statistics.fmean(jaccard(a, b) for a, b in pairs) if pairs else None
    tp = sum(g and p for g, p in zip(gold, predicted))
    wrong = sum(g != p for g, p in zip(gold, predicted))
    f1 = 2 * tp / (2 * tp + wrong) if tp + wrong else None
    ai_rate = 1.0 - statistics.fmean(human) if human else None
    mean_overlap = statistics.fmean(overlap) if overlap else None
    parts = [
        diversity,
        f1,
        None if ai_rate is None else 1.0 - ai_rate,
        None if mean_overlap is None else 1.0 - mean_overlap,
    ]
    defined = [p for p in parts if p is not None]
    return {
        "first_turn_diversity": diversity,
        "termination_f1": f1,
        "ai_rate": ai_rate,
        "intent_overlap": mean_overlap,
        "score": statistics.fmean(defined) if defined else None,
    }


def subset_scores(items: Sequence[tuple[EpisodeRecord, Judgment]]) -> dict[str, float | None]:
    """The leaderboard: CSQA and NQ mean scores, the PRISM subset score of ``prism_sweep`` and their
    unweighted mean (``score``) over the subsets present; judgments with errors are left out."""
    scores: dict[str, list[float]] = {"csqa": [], "nq": []}
    for record, judgment in items:
        subset = row_of(record).subset
        if judgment.score is not None and subset in scores:
            scores[subset].append(judgment.score)
    out: dict[str, float | None] = {k: statistics.fmean(v) if v else None for k, v in scores.items()}
    out["prism"] = prism_sweep(items)["score"]
    present = [v for v in out.values() if v is not None]
    out["score"] = statistics.fmean(present) if present else None
    return out
