"""Rule judges: MCQ letters, exact / whole-phrase location match with candidates, CSQA substring rule,
token F1, lexical diversity and reference overlap.

Each reads the judged agent's last turn (or all its turns) from the episode and the gold from the row.
A policy output that cannot be parsed is the policy's fault: it scores 0 with ``dims["valid"] = 0`` and
the reason (docs/judges.md#rule-judges); it is not a judge error.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from judges.extraction import extract_answer
from judges.judgment import Judgment
from judges.lexical import lexical_profile
from judges.matching import candidate_match, csqa_role_adherence, exact_location_match, token_f1
from judges.overlap import bleu4, rouge_l
from judges.sync_judge import SyncJudge
from judges.transcript import agent_turns, last_turn
from osim_env.data import decode_structured
from osim_env.episode import EpisodeRecord
from osim_env.thinking import strip_thinking

RowGetter = str | Callable[[Mapping[str, Any]], Any]


def get_field(row: Mapping[str, Any], getter: RowGetter) -> Any:
    """A row value by dotted path (``"Multiple Choice Question.Correct Answer"`` style keys with dots are
    tried whole first) or by a function of the row."""
    if callable(getter):
        return getter(row)
    if getter in row:
        return row[getter]
    value: Any = row
    for part in getter.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"row has no field {getter!r}")
        value = value[part]
    return value


def describe_getter(getter: RowGetter) -> str:
    return getter if isinstance(getter, str) else getattr(getter, "__qualname__", repr(getter))


def final_text(record: EpisodeRecord, agent: str) -> tuple[str | None, str | None]:
    """The agent's final answer text (thinking removed), or why there is none (an invalid action)."""
    event = last_turn(record, agent)
    if event is None:
        return None, "no answer found"
    if event.kind == "invalid_action":
        return None, str(event.payload.get("reason", "invalid action"))
    raw = event.payload.get("raw")
    if isinstance(raw, str):
        return strip_thinking(raw).visible, None
    return event.text, None


class RuleJudge(SyncJudge):
    """A judge that scores each policy agent with a rule (no model call)."""

    kind: ClassVar[str] = "rule"

    def params(self) -> dict[str, Any]:
        return {}

    @property
    def spec(self) -> dict[str, Any]:  # type: ignore[override]
        return {"kind": self.kind, **self.params()}

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        return {agent: self.judge_agent(episode, agent) for agent in episode.policy_agents}

    @abstractmethod
    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        """One agent's judgment."""

    def verdict(self, agent: str, correct: bool, reason: str) -> Judgment:
        """A valid answer that is right (1) or wrong (0)."""
        return Judgment(
            agent=agent,
            score=float(correct),
            dims={"valid": 1.0, "correct": float(correct)},
            reasons={"answer": reason},
            judge=self.spec,
        )

    def invalid(self, agent: str, reason: str, **dims: float) -> Judgment:
        return Judgment(
            agent=agent, score=0.0, dims={"valid": 0.0, **dims}, reasons={"answer": reason}, judge=self.spec
        )


class MCQJudge(RuleJudge):
    """1 iff the extracted letter (docs/judges.md#extraction) equals the gold letter; invalid answers
    score 0."""

    kind = "mcq"

    def __init__(self, gold: RowGetter, n_options: int | RowGetter = 4) -> None:
        self.gold = gold
        self.n_options = n_options

    def params(self) -> dict[str, Any]:
        n = self.n_options if isinstance(self.n_options, int) else describe_getter(self.n_options)
        return {"gold": describe_getter(self.gold), "n_options": n}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        row = record.scenario
        gold = str(get_field(row, self.gold)).strip()[:1].upper()
        n = self.n_options if isinstance(self.n_options, int) else int(get_field(row, self.n_options))
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "no answer found")
        extraction = extract_answer(text, n_options=n)
        if not extraction.valid:
            return self.invalid(agent, extraction.reason or "no answer found")
        correct = extraction.answer == gold
        return self.verdict(agent, correct, f"answered {extraction.answer}, gold {gold}")


class LocationMatchJudge(RuleJudge):
    """ToMi: the answer tag's location; with candidates, 1 iff the gold is named as a whole phrase and no
    other candidate is; without, 1 iff it equals the gold after removing a leading "in/on/at"."""

    kind = "location_match"

    def __init__(self, gold: RowGetter = "correct_answer", candidates: RowGetter | None = "cands") -> None:
        self.gold = gold
        self.candidates = candidates

    def params(self) -> dict[str, Any]:
        cands = None if self.candidates is None else describe_getter(self.candidates)
        return {"gold": describe_getter(self.gold), "candidates": cands}

    def _candidates(self, row: Mapping[str, Any]) -> list[str]:
        if self.candidates is None:
            return []
        try:
            value = get_field(row, self.candidates)
        except KeyError:
            return []
        if isinstance(value, str):
            value = decode_structured(value)
            value = [value] if isinstance(value, str) else value
        return [str(v) for v in value or []]

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        row = record.scenario
        gold = str(get_field(row, self.gold))
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "no answer found")
        extraction = extract_answer(text)
        if not extraction.valid or extraction.answer is None:
            return self.invalid(agent, extraction.reason or "no answer found")
        candidates = self._candidates(row)
        if candidates:
            correct = candidate_match(extraction.answer, gold, candidates)
        else:
            correct = exact_location_match(extraction.answer, gold)
        return self.verdict(agent, correct, f"answered {extraction.answer!r}, gold {gold!r}")


class ChoiceLeakJudge(RuleJudge):
    """UserLLM CSQA role adherence: naming one or two answer choices means the simulated user answered
    instead of asking (0); none, or three or more, is in role (1)."""

    kind = "csqa_role_adherence"

    def __init__(self, choices: RowGetter = "choices") -> None:
        self.choices = choices

    def params(self) -> dict[str, Any]:
        return {"choices": describe_getter(self.choices)}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        choices = choice_texts(get_field(record.scenario, self.choices))
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "empty message")
        score, leaked = csqa_role_adherence(text, choices)
        return Judgment(
            agent=agent,
            score=score,
            dims={"valid": 1.0, "choices_named": float(len(leaked))},
            reasons={"role": f"named choices: {leaked}" if leaked else "named no choice"},
            judge=self.spec,
        )


def choice_texts(choices: Any) -> list[str]:
    """CSQA choices given as ``{"label": [...], "text": [...]}`` or a plain list."""
    if isinstance(choices, Mapping):
        return [str(t) for t in choices.get("text", [])]
    return [str(c) for c in choices]


class TokenF1Judge(RuleJudge):
    """SQuAD token F1 between the answer tag's content and the gold. An answer without a tag is invalid
    (score 0): the whole text is never scored in its place (docs/judges.md#rule-judges)."""

    kind = "token_f1"

    def __init__(self, gold: RowGetter) -> None:
        self.gold = gold

    def params(self) -> dict[str, Any]:
        return {"gold": describe_getter(self.gold)}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "no answer found", f1=0.0)
        extraction = extract_answer(text)
        if not extraction.valid or extraction.answer is None:
            return self.invalid(agent, extraction.reason or "no answer found", f1=0.0)
        f1 = token_f1(extraction.answer, str(get_field(record.scenario, self.gold)))
        return Judgment(agent=agent, score=f1, dims={"valid": 1.0, "f1": f1}, judge=self.spec)


class LexicalDiversityJudge(RuleJudge):
    """MATTR (w=50), HD-D and Yule's K of an agent's turns; the score is one of the [0, 1] metrics."""

    kind = "lexical_diversity"

    def __init__(self, metric: Literal["mattr", "hdd"] = "mattr", window: int = 50) -> None:
        self.metric = metric
        self.window = window

    def params(self) -> dict[str, Any]:
        return {"metric": self.metric, "window": self.window}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        profile = lexical_profile(" ".join(agent_turns(record, agent)), window=self.window)
        return Judgment(agent=agent, score=profile[self.metric], dims=profile, judge=self.spec)


class ReferenceOverlapJudge(RuleJudge):
    """BLEU-4 (smoothed) and ROUGE-L F1 of an agent's turns against a reference text from the row."""

    kind = "reference_overlap"

    def __init__(self, reference: RowGetter, metric: Literal["bleu4", "rouge_l"] = "rouge_l") -> None:
        self.reference = reference
        self.metric = metric

    def params(self) -> dict[str, Any]:
        return {"reference": describe_getter(self.reference), "metric": self.metric}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        reference = get_field(record.scenario, self.reference)
        if not isinstance(reference, str):
            reference = "\n".join(str(r) for r in reference)
        hypothesis = "\n".join(agent_turns(record, agent))
        dims = {"bleu4": bleu4(hypothesis, reference), "rouge_l": rouge_l(hypothesis, reference)}
        return Judgment(agent=agent, score=dims[self.metric], dims=dims, judge=self.spec)
