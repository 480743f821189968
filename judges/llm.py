"""LLM judges: a prompt, a pydantic answer schema, structured output, retries, samples and the cache.

Every LLM judge in osim is an ``LLMJudge``: it turns an episode into ``Query`` objects (chat messages
plus the answer schema), asks the judge model for all queries of a batch of episodes at once, and turns
the validated answers into one ``Judgment`` per judged agent with a task formula (``score``).

Rules (docs/judges.md#llm-judges): the schema's JSON schema goes into the request (guided decoding where the
backend supports it); the output is parsed tolerantly (fences, trailing text, near-valid JSON) and then
validated strictly (ranges are part of the schema); failed queries are retried up to ``attempts`` times:
at once when the answer was invalid, after an exponential backoff when the call itself failed (a
transport fault after the backend's own retries). An output cut at the token budget ("judge output cut
at N tokens") and a prompt longer than the model's context are errors at once, never retried or repaired.
With ``samples=c`` the judgment aggregates c valid samples and any failed sample fails it. A failure is
``Judgment.error`` with the reason, never a number.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from judges.cache import CacheKey, JudgeCache
from judges.judgment import Judgment
from judges.parsing import ParseError, parse_answer
from judges.turns import mark_turn, turn_prefix
from osim_env.aio import run_sync
from osim_env.episode import EpisodeRecord
from policies.base import BatchPolicyError, ChatRequest, Completion, ContextLengthError, Policy
from policies.spec import parse_spec

Aggregate = Literal["mean", "median"]
JudgeModel = Policy | str | None
DEFAULT_JUDGE_MODEL = "tiny"
DEFAULT_MAX_TOKENS = 16384
"""A judge call's output budget unless the judge is given ``max_tokens``: room for a reasoning model,
whose hidden reasoning counts against the budget (``max_completion_tokens``), before its answer. A
local model stops earlier, at the end of its context."""
BACKOFF_CAP_S = 30.0


# Judges given the same spec string share one policy while any of them holds it (a task judge and its
# hack auditor on one local model load it once).
_SHARED_MODELS: weakref.WeakValueDictionary[str, Policy] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def resolve_model(model: JudgeModel) -> Policy:
    """A judge model from a policy, a policy spec string, or ``None`` (the local ``"tiny"`` model; the
    ``osim`` command fills in ``$OSIM_JUDGE_MODEL`` before it gets here). Judges resolving the same spec
    string get the same policy."""
    if isinstance(model, Policy):
        return model
    spec = model or DEFAULT_JUDGE_MODEL
    with _SHARED_LOCK:
        policy = _SHARED_MODELS.get(spec)
        if policy is None:
            policy = _SHARED_MODELS[spec] = parse_spec(spec)
        return policy


def aggregate(values: Sequence[float], how: Aggregate) -> float:
    if not values:
        raise ValueError("nothing to aggregate")
    return float(statistics.median(values) if how == "median" else statistics.fmean(values))


def disagreement(values: Sequence[float]) -> dict[str, float]:
    """How much k scores disagree: population std and range."""
    return {"std": float(statistics.pstdev(values)), "range": float(max(values) - min(values))}


@dataclass(frozen=True)
class Query:
    """One judge call: chat messages, the answer schema and the transcript (part of the cache key)."""

    name: str
    messages: list[dict[str, str]]
    schema: type[BaseModel]
    transcript: str

    def request(self, max_tokens: int | None) -> ChatRequest:
        return ChatRequest(
            messages=self.messages, json_schema=self.schema.model_json_schema(), max_tokens=max_tokens
        )

    def prompt_key(self, sample: int) -> dict[str, Any]:
        return {"messages": self.messages, "schema": self.schema.model_json_schema(), "sample": sample}


@dataclass
class Answer:
    """The outcome of one query: ``samples`` validated answers, or ``error``."""

    samples: list[BaseModel] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    error: str | None = None
    cached: int = 0


@dataclass
class _Slot:
    query: int
    sample: int
    request: ChatRequest
    key: CacheKey
    schema: type[BaseModel]
    parsed: BaseModel | None = None
    raw: str | None = None
    last_error: str | None = None
    final: bool = False  # an error no retry can fix (a cut output, a prompt beyond the context)

    @property
    def open(self) -> bool:
        return self.parsed is None and not self.final


class StructuredCaller:
    """Asks a judge model for validated answers to many queries: cache first, then batched calls with
    retries of the failed ones only (at once for invalid answers, after a backoff for failed calls)."""

    def __init__(
        self,
        model: Policy,
        cache_spec: Mapping[str, Any],
        *,
        cache: JudgeCache | None = None,
        attempts: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float | None = 600.0,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.model = model
        self.cache_spec = dict(cache_spec)
        self.cache = cache
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens

    async def ask(self, queries: Sequence[Query], samples: int = 1) -> list[Answer]:
        slots = [
            _Slot(
                i,
                s,
                q.request(self.max_tokens),
                CacheKey.of(self.cache_spec, q.prompt_key(s), q.transcript),
                q.schema,
            )
            for i, q in enumerate(queries)
            for s in range(samples)
        ]
        cached = self._from_cache(slots)
        pending = [s for s in slots if s.parsed is None]
        if pending:
            await self._call_with_retries(pending)
            if self.cache is not None:
                self.cache.put_many(
                    (s.key, s.raw, self.cache_spec)
                    for s in pending
                    if s.parsed is not None and s.raw is not None
                )
        answers = [Answer() for _ in queries]
        for slot in slots:
            answer = answers[slot.query]
            if slot.parsed is None:
                if answer.error is None:
                    answer.error = f"{queries[slot.query].name}: {slot.last_error}"
                continue
            answer.samples.append(slot.parsed)
            answer.raws.append(slot.raw or "")
            answer.cached += int(id(slot) in cached)
        for answer in answers:
            if answer.error is not None:
                answer.samples = []
        return answers

    def _from_cache(self, slots: Sequence[_Slot]) -> set[int]:
        if self.cache is None:
            return set()
        found = self.cache.get_many([s.key for s in slots])
        hits = set()
        for slot in slots:
            output = found.get(slot.key)
            if output is None:
                continue
            try:
                slot.parsed = parse_answer(output, slot.schema)
            except ParseError:  # stored under an older schema: ask again
                continue
            slot.raw = output
            hits.add(id(slot))
        return hits

    async def _call_with_retries(self, pending: list[_Slot]) -> None:
        """Up to ``attempts`` rounds over the slots still open. An invalid answer is asked again at
        once; a failed call (rate limit, server error, timeout) waits ``backoff_s * 2**k`` first."""
        attempt_no = 0
        while attempt_no < self.attempts:
            open_slots = [s for s in pending if s.open]
            if not open_slots:
                return
            attempt_no += 1
            call_failed = await self._one_round(open_slots)
            if call_failed and attempt_no < self.attempts and any(s.open for s in pending):
                await asyncio.sleep(min(self.backoff_s * 2 ** (attempt_no - 1), BACKOFF_CAP_S))
        for slot in pending:
            if slot.open:
                slot.last_error = f"{slot.last_error} (after {attempt_no} attempts)"

    async def _one_round(self, slots: list[_Slot]) -> bool:
        """Ask for every slot once; returns whether a call failed (a transport fault, worth a backoff)."""
        requests = [s.request for s in slots]
        completions: Sequence[Completion | None]
        call_failed = False
        try:
            call = self.model.complete_batch(requests)
            completions = await (asyncio.wait_for(call, self.timeout_s) if self.timeout_s else call)
        except asyncio.TimeoutError:
            for slot in slots:
                slot.last_error = f"judge call timed out after {self.timeout_s}s"
            return True
        except BatchPolicyError as exc:  # some requests failed: keep the completions of the others
            completions = exc.completions
            for i, error in exc.failures.items():
                call_failed |= self._call_error(slots[i], error)
        except Exception as exc:  # a failed call after the backend's own retries (PolicyError) or worse
            return any([self._call_error(slot, exc) for slot in slots])
        for slot, completion in zip(slots, completions):
            if completion is not None:
                self._read(slot, completion)
        return call_failed

    @staticmethod
    def _call_error(slot: _Slot, error: BaseException) -> bool:
        """Record a failed call; returns whether it is worth retrying (a prompt too long never is)."""
        slot.last_error = f"judge call failed: {type(error).__name__}: {error}"
        slot.final = isinstance(error, ContextLengthError)
        return not slot.final

    @staticmethod
    def _read(slot: _Slot, completion: Completion) -> None:
        """Validate one output. An output cut at the token budget is an error of its own: it is not
        repaired into an answer (the tolerant parser could close a cut object) and not retried."""
        if completion.finish_reason == "length":
            n = completion.completion_tokens or slot.request.max_tokens
            slot.last_error = f"judge output cut at {n} tokens"
            slot.final = True
            return
        try:
            slot.parsed = parse_answer(completion.text, slot.schema)
            slot.raw = completion.text
        except ParseError as exc:
            slot.last_error = str(exc)


@dataclass(frozen=True)
class Scored:
    """One sample's result for one agent: the normalized score, raw dimensions, per-dimension reasons."""

    score: float
    dims: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


class UsesJudgeModel:
    """Holds a judge model given as a policy or a spec string, built on first use (building a local
    model is slow, and a judge that is never asked need not pay for it)."""

    def _use_model(self, model: JudgeModel) -> None:
        self._model_arg = model
        self._model: Policy | None = model if isinstance(model, Policy) else None

    @property
    def model(self) -> Policy:
        if self._model is None:
            self._model = resolve_model(self._model_arg)
        return self._model


class LLMJudge(UsesJudgeModel, ABC):
    """Base of every LLM judge. Subclasses write ``queries`` (the prompts) and ``score`` (the formula)."""

    kind: ClassVar[str] = "llm"
    version: ClassVar[str] = "1"
    # Whether ``raw`` also holds the outputs of queries the judgment does not need (e.g. optional judges).
    raw_includes_optional: ClassVar[bool] = True

    def __init__(
        self,
        model: JudgeModel = None,
        *,
        cache: JudgeCache | None = None,
        samples: int = 1,
        aggregate: Aggregate = "mean",
        attempts: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float | None = 600.0,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
    ) -> None:
        if samples < 1:
            raise ValueError("samples must be >= 1")
        if aggregate not in ("mean", "median"):
            raise ValueError("aggregate must be 'mean' or 'median'")
        self._use_model(model)
        self.cache = cache
        self.samples = samples
        self.aggregate = aggregate
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens

    # -- what a task judge writes -------------------------------------------------------------------
    @abstractmethod
    def queries(self, record: EpisodeRecord) -> list[Query]:
        """The judge calls this episode needs (names unique within the episode)."""

    @abstractmethod
    def score(self, record: EpisodeRecord, agent: str, answers: Mapping[str, BaseModel]) -> Scored:
        """One sample's score for ``agent`` from the validated answers of its queries."""

    def params(self) -> dict[str, Any]:
        """Settings that change prompts or formulas (part of the spec and the cache key)."""
        return {}

    def judged_agents(self, record: EpisodeRecord) -> tuple[str, ...]:
        return tuple(record.policy_agents)

    def queries_of(self, record: EpisodeRecord, agent: str, names: Sequence[str]) -> list[str]:
        """The queries an agent's judgment needs (all by default): if one fails, the judgment fails.
        ``score`` also receives the other queries' answers when they succeeded."""
        return list(names)

    # -- the machinery ------------------------------------------------------------------------------
    @property
    def cache_spec(self) -> dict[str, Any]:
        """What identifies this judge's outputs: kind, version, model and params (not samples)."""
        return {
            "kind": self.kind,
            "version": self.version,
            "model": self.model.spec.model_dump(mode="json"),
            **self.params(),
        }

    @property
    def spec(self) -> dict[str, Any]:
        return {**self.cache_spec, "samples": self.samples, "aggregate": self.aggregate}

    def caller(self) -> StructuredCaller:
        return StructuredCaller(
            self.model,
            self.cache_spec,
            cache=self.cache,
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            timeout_s=self.timeout_s,
            max_tokens=self.max_tokens,
        )

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        return run_sync(self.judge_batch([episode]))[0]

    async def judge_batch(self, episodes: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]:
        per_episode = [self.queries(e) for e in episodes]
        flat = [q for qs in per_episode for q in qs]
        answers = await self.caller().ask(flat, self.samples) if flat else []
        out: list[dict[str, Judgment]] = []
        offset = 0
        for episode, qs in zip(episodes, per_episode):
            mine = dict(zip([q.name for q in qs], answers[offset : offset + len(qs)]))
            offset += len(qs)
            out.append({a: self._judgment(episode, a, mine) for a in self.judged_agents(episode)})
        return out

    def judge_turn(self, record: EpisodeRecord, event_index: int) -> dict[str, Judgment]:
        return run_sync(self.judge_turn_batch([(record, event_index)]))[0]

    async def judge_turn_batch(self, items: Sequence[tuple[EpisodeRecord, int]]) -> list[dict[str, Judgment]]:
        """Each turn judged on the episode prefix ending at it, for the acting agent only: the queries that
        agent's judgment needs, built on the prefix transcript, asked in one batch."""
        prefixes = [turn_prefix(record, index) for record, index in items]
        per_turn: list[list[Query]] = []
        for prefix, actor in prefixes:
            if actor not in self.judged_agents(prefix) or self.without_model(prefix, actor) is not None:
                per_turn.append([])
                continue
            queries = self.queries(prefix)
            needed = set(self.queries_of(prefix, actor, [q.name for q in queries]))
            per_turn.append([q for q in queries if q.name in needed])
        flat = [q for qs in per_turn for q in qs]
        answers = await self.caller().ask(flat, self.samples) if flat else []
        out: list[dict[str, Judgment]] = []
        offset = 0
        for (prefix, actor), (_, index), qs in zip(prefixes, items, per_turn):
            mine = dict(zip([q.name for q in qs], answers[offset : offset + len(qs)]))
            offset += len(qs)
            if actor not in self.judged_agents(prefix):
                out.append({})
                continue
            out.append({actor: mark_turn(self._judgment(prefix, actor, mine), index)})
        return out

    def _judgment(self, record: EpisodeRecord, agent: str, answers: Mapping[str, Answer]) -> Judgment:
        spec = self.spec
        early = self.without_model(record, agent)
        if early is not None:
            return early
        required = self.queries_of(record, agent, list(answers))
        available = [n for n in answers if answers[n].error is None]
        shown = [*required, *available] if self.raw_includes_optional else required
        raw = _raw_text({n: answers[n].raws for n in dict.fromkeys(shown)})
        errors = [answers[n].error for n in required if answers[n].error]
        if errors:
            return Judgment.failed(agent, "; ".join(e for e in errors if e), spec, raw=raw)
        try:
            per_sample = [
                self.score(record, agent, {n: answers[n].samples[s] for n in available})
                for s in range(self.samples)
            ]
        except ValueError as exc:  # a formula that cannot be applied to these answers
            return Judgment.failed(agent, f"{self.kind}: {exc}", spec, raw=raw)
        scores = [p.score for p in per_sample]
        if any(not (0.0 <= s <= 1.0) or math.isnan(s) for s in scores):
            return Judgment.failed(agent, f"{self.kind}: score outside [0, 1]: {scores}", spec, raw=raw)
        dims = _mean_dims([p.dims for p in per_sample])
        if self.samples > 1:
            spread = disagreement(scores)
            dims.update(samples=float(self.samples), sample_std=spread["std"], sample_range=spread["range"])
        reasons = dict(per_sample[0].reasons)
        # Optional queries (not needed for the score) that failed are logged, not fatal.
        reasons.update(
            {f"{n}.error": str(a.error) for n, a in answers.items() if a.error and n not in required}
        )
        return Judgment(
            agent=agent,
            score=aggregate(scores, self.aggregate),
            dims=dims,
            reasons=reasons,
            raw=raw,
            judge=spec,
        )

    def without_model(self, record: EpisodeRecord, agent: str) -> Judgment | None:
        """A judgment that needs no model call (e.g. the policy's answer is invalid: score 0), or None."""
        return None


def _mean_dims(dims: Sequence[Mapping[str, float]]) -> dict[str, float]:
    keys = list(dict.fromkeys(k for d in dims for k in d))
    return {k: float(statistics.fmean(d[k] for d in dims if k in d)) for k in keys}


def _raw_text(raws: Mapping[str, list[str]]) -> str | None:
    if not raws or not any(raws.values()):
        return None
    if len(raws) == 1:
        (only,) = raws.values()
        if len(only) == 1:
            return only[0]
    return json.dumps(raws, ensure_ascii=False)
