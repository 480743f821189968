"""Verbal feedback for verbal-feedback RL (docs/judges.md#feedback): the "h" written for a judged draft.

A ``FeedbackWriter`` asks an LLM for per-dimension critiques, a short reflection and the feedback text
itself, from the task data, the draft, the judge's per-dimension scores and reasoning and (for
discriminative tasks) the gold. Feedback is privileged: it never reaches evaluation. A leakage check
rejects feedback that gives the answer away; it is regenerated once, then the draft is left without
feedback. Errors leave the draft's score valid and produce no feedback (``FeedbackResult.error``).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from judges.cache import JudgeCache
from judges.judgment import Feedback, Judgment
from judges.lexical import word_ngrams
from judges.llm import DEFAULT_MAX_TOKENS, JudgeModel, Query, StructuredCaller, UsesJudgeModel
from judges.matching import normalize_location
from osim_env.aio import run_sync
from osim_env.episode import EpisodeRecord


# -- gate and leakage -------------------------------------------------------------------------------
def style_numbers(texts: Sequence[str], unit: str) -> str:
    """A human side's style in numbers, for a feedback prompt: how many ``unit``s (turns, messages), the
    median words per one, the share starting in lower case and the share with a question mark."""
    if not texts:
        return f"no {unit}s"
    words = statistics.median(len(t.split()) for t in texts)
    lower = sum(t.strip()[:1].islower() for t in texts) / len(texts)
    questions = sum("?" in t for t in texts) / len(texts)
    return (
        f"{len(texts)} {unit}s, median {words:g} words per {unit}, {lower:.0%} start in lower case, "
        f"{questions:.0%} contain a question mark"
    )


def gate_allows(judgment: Judgment, gate: str = "all") -> bool:
    """``"all"`` (the paper) or ``"below:<t>"`` (only drafts with score < t); errors never get feedback."""
    if judgment.error is not None or judgment.score is None:
        return False
    if gate == "all":
        return True
    if gate.startswith("below:"):
        return judgment.score < float(gate.split(":", 1)[1])
    raise ValueError(f"feedback_gate must be 'all' or 'below:<t>', got {gate!r}")


@dataclass(frozen=True)
class Gold:
    """What feedback must not reveal: an option letter, option / location / name texts, reference text."""

    letter: str | None = None
    texts: tuple[str, ...] = ()
    reference: tuple[str, ...] = ()
    span: int = 8


def find_leak(feedback: str, gold: Gold) -> str | None:
    """Why ``feedback`` leaks the gold, or None. Letter patterns: ``(b)``, ``option B``, ``answer is B``,
    ``choice B``; gold texts as whole phrases (normalized); any ``span``-word run of the reference text."""
    if gold.letter:
        letter = re.escape(gold.letter.strip()[:1])
        # The bare letter must be upper case ("the answer is a trap" is no leak); "(b)" counts in either case.
        patterns = [
            re.compile(rf"\(\s*{letter}\s*\)", re.IGNORECASE),
            re.compile(rf"\b(?i:option|choice|letter|answer)\s*[:\-]?\s*\(?{letter}\b(?!['’])"),
            re.compile(
                rf"\b(?i:answer|correct(?: one| option| answer)?)\s+(?i:is|was|should be|would be)\s*:?\s*"
                rf"\(?{letter}\b(?!['’])"
            ),
        ]
        for pattern in patterns:
            m = pattern.search(feedback)
            if m:
                return f"names the gold option: {m.group(0)!r}"
    text = " " + normalize_location(feedback) + " "
    for gold_text in gold.texts:
        phrase = normalize_location(gold_text)
        if phrase and f" {phrase} " in text:
            return f"contains the gold text {gold_text!r}"
    spans = set(word_ngrams(feedback, gold.span))
    for reference in gold.reference:
        for gram in word_ngrams(reference, gold.span):
            if gram in spans:
                return f"repeats {gold.span} words of the reference: {' '.join(gram)!r}"
    return None


# -- the writer -------------------------------------------------------------------------------------
def feedback_schema(
    dimensions: Sequence[str], *, min_words: int | None = None, max_words: int | None = None
) -> type[BaseModel]:
    """``{"critiques": {dim: str}, "reflection": str, "feedback": str}``; the word bounds of ``feedback``
    are part of the schema (a violation is a parse failure, so it is retried)."""

    def _words(cls: Any, value: str) -> str:
        n = len(value.split())
        if min_words is not None and n < min_words:
            raise ValueError(f"feedback has {n} words, at least {min_words} needed")
        if max_words is not None and n > max_words:
            raise ValueError(f"feedback has {n} words, at most {max_words} allowed")
        return value

    critiques = create_model(
        "FeedbackCritiques",
        __config__=ConfigDict(extra="forbid"),
        **{d: (str, ...) for d in dimensions},
    )
    return create_model(
        "FeedbackAnswer",
        __config__=ConfigDict(extra="forbid"),
        __validators__={"_words": field_validator("feedback")(_words)},
        critiques=(critiques, ...),
        reflection=(str, ...),
        feedback=(str, Field(min_length=1)),
    )


@dataclass(frozen=True)
class FeedbackResult:
    feedback: Feedback | None
    error: str | None = None
    raw: str | None = None


PromptBuilder = Callable[[EpisodeRecord, Judgment], list[dict[str, str]]]
GoldOf = Callable[[EpisodeRecord], Gold]
# A task's own leakage check of one feedback text (e.g. a scale point or a candidate's text): why it leaks.
TaskLeak = Callable[[EpisodeRecord, str], "str | None"]


class FeedbackWriter(UsesJudgeModel):
    """Writes feedback for judged drafts with an LLM (any policy), with the leakage check of
    docs/judges.md#feedback."""

    kind = "feedback"

    def __init__(
        self,
        model: JudgeModel,
        *,
        task: str,
        dimensions: Sequence[str],
        prompt: PromptBuilder,
        gold: GoldOf | None = None,
        task_leak: TaskLeak | None = None,
        min_words: int | None = None,
        max_words: int | None = None,
        version: str = "1",
        cache: JudgeCache | None = None,
        attempts: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float | None = 600.0,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
    ) -> None:
        self._use_model(model)
        self.task, self.dimensions, self.prompt, self.gold = task, list(dimensions), prompt, gold
        self.task_leak = task_leak
        self.min_words, self.max_words, self.version = min_words, max_words, version
        self.schema = feedback_schema(self.dimensions, min_words=min_words, max_words=max_words)
        self.cache, self.attempts, self.backoff_s = cache, attempts, backoff_s
        self.timeout_s, self.max_tokens = timeout_s, max_tokens

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "task": self.task,
            "version": self.version,
            "model": self.model.spec.model_dump(mode="json"),
            "words": [self.min_words, self.max_words],
        }

    def feedback_for(self, record: EpisodeRecord, judgment: Judgment) -> FeedbackResult:
        return run_sync(self.feedback_batch([(record, judgment)]))[0]

    def attach(self, record: EpisodeRecord, judgment: Judgment) -> Judgment:
        """The judgment with its feedback; unchanged but for ``flags["feedback_error"]`` without one."""
        result = self.feedback_for(record, judgment)
        if result.feedback is None:
            return judgment.model_copy(update={"flags": {**judgment.flags, "feedback_error": result.error}})
        return judgment.model_copy(update={"feedback": result.feedback})

    async def feedback_batch(self, items: Sequence[tuple[EpisodeRecord, Judgment]]) -> list[FeedbackResult]:
        """Feedback for each (draft, judgment); failed judgments get an error, no call."""
        results: list[FeedbackResult | None] = [None] * len(items)
        queries: dict[int, Query] = {}
        for i, (record, judgment) in enumerate(items):
            if judgment.error is not None or judgment.score is None:
                results[i] = FeedbackResult(None, "the draft has no valid judgment")
            else:
                queries[i] = self._query(record, judgment, f"{i}")
        first = await self._ask(queries)
        retry: dict[int, Query] = {}
        for i, (answer, raw, error) in first.items():
            record, judgment = items[i]
            if error is not None:
                results[i] = FeedbackResult(None, error, raw)
                continue
            leak = self._leak(record, answer)
            if leak is None:
                results[i] = FeedbackResult(self._feedback(answer), None, raw)
            else:  # one regeneration, told what leaked
                retry[i] = self._query(record, judgment, f"{i}", leak=leak)
        second = await self._ask(retry)
        for i, (answer, raw, error) in second.items():
            record, _ = items[i]
            leak = None if error is not None else self._leak(record, answer)
            if error is not None or leak is not None:
                results[i] = FeedbackResult(
                    None, f"feedback leaks the gold after one regeneration: {error or leak}", raw
                )
            else:
                results[i] = FeedbackResult(self._feedback(answer), None, raw)
        return [r if r is not None else FeedbackResult(None, "not processed") for r in results]

    def _query(self, record: EpisodeRecord, judgment: Judgment, name: str, leak: str | None = None) -> Query:
        messages = self.prompt(record, judgment)
        if leak is not None:
            messages = [
                *messages,
                {
                    "role": "user",
                    "content": f"Your previous feedback gave the answer away ({leak}). Write it again "
                    "without revealing the answer, the option letter, the answer text or the reference "
                    "wording.",
                },
            ]
        transcript = "\n".join(m["content"] for m in messages if m["role"] != "system")
        return Query(name, messages, self.schema, transcript)

    async def _ask(
        self, queries: Mapping[int, Query]
    ) -> dict[int, tuple[BaseModel | None, str | None, str | None]]:
        if not queries:
            return {}
        caller = StructuredCaller(
            self.model,
            {k: v for k, v in self.spec.items()},
            cache=self.cache,
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            timeout_s=self.timeout_s,
            max_tokens=self.max_tokens,
        )
        keys = list(queries)
        answers = await caller.ask([queries[k] for k in keys])
        return {
            k: (a.samples[0] if a.samples else None, a.raws[0] if a.raws else None, a.error)
            for k, a in zip(keys, answers)
        }

    def _leak(self, record: EpisodeRecord, answer: BaseModel | None) -> str | None:
        """Why the answer leaks: the gold (``find_leak``), then the task's own check, if any."""
        if answer is None or (self.gold is None and self.task_leak is None):
            return None
        texts = [answer.feedback, answer.reflection, *answer.critiques.model_dump().values()]  # type: ignore[attr-defined]
        checks: list[Callable[[str], str | None]] = []
        if self.gold is not None:
            gold = self.gold(record)
            checks.append(lambda text: find_leak(text, gold))
        if self.task_leak is not None:
            task_leak = self.task_leak
            checks.append(lambda text: task_leak(record, text))
        for check in checks:
            for text in texts:
                leak = check(text)
                if leak:
                    return leak
        return None

    def _feedback(self, answer: BaseModel | None) -> Feedback:
        assert answer is not None
        return Feedback(
            critique=answer.feedback,  # type: ignore[attr-defined]
            reflection=answer.reflection,  # type: ignore[attr-defined]
            per_dimension=answer.critiques.model_dump(),  # type: ignore[attr-defined]
        )
