"""SimulatorArena judges (docs/tasks.md#simarena): how close the simulated student or user is to the
real one.

Three LLM judges read the public conversation (the first human message without the task template):

- writing style: the real vs the simulated human's messages, Likert 1-5 → ``w = (W − 1)/4``;
- interaction style: the real vs the simulated conversation, Likert 1-5 → ``i = (I − 1)/4``;
- attribute fulfillment (rows with target features): "Match" / "No Match" per feature on the simulated
  human's messages; the answer must list every feature once, in order, under its name (else it is a parse
  failure and is asked again) → ``f`` (math), ``f_w`` and ``f_i`` (document: per category).

The score is the mean of the components that apply; a component that does not apply is left out (never
0) and ``dims["n_components"]`` says how many counted. The document env also rates the final document
(1-10, ``d = (D − 1)/9``), reported in ``dims`` and rewarded only with ``reward="odyssim"``, which makes the
reward the original formula, ``dims["score_odyssim"]``. A failed judge fails the judgment, never a 0.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from judges.cache import JudgeCache
from judges.detectors import (
    AssistantRegister,
    Detector,
    Flag,
    Length,
    Repetition,
    ThinkLeak,
    attach_flags,
    run_detectors,
)
from judges.judgment import Judgment
from judges.llm import Answer, JudgeModel, LLMJudge, Query, Scored
from osim_env.episode import EpisodeRecord
from scenarios.simarena import prompts
from scenarios.simarena.schema import DocRow, Feature, MathRow

REWARDS = ("style", "odyssim")
PROMPT_VERSION = "simarena-judge-v1"
NAMES = {
    "student": "Student",
    "tutor": "AI Tutor",
    "user": "User",
    "assistant": "AI Writing Assistant",
}
LABEL = re.compile(r"\b(?:query|response|message)\s*:", re.IGNORECASE)
CATEGORY_DIMS = {"writing style": "f_w", "interaction style": "f_i"}


# -- answer schemas ----------------------------------------------------------------------------------------
class LikertAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_differences: list[str]
    similarity_score: int = Field(ge=1, le=5)


class FeatureResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feature_name: str
    analysis: str
    classification: Literal["Match", "No Match"]


class DocumentAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    analysis: str
    rating: int = Field(ge=1, le=10)


def same_name(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def fulfillment_schema(names: Sequence[str]) -> type[BaseModel]:
    """``{"results": [...]}`` with exactly one result per feature, in order, under its name."""
    expected = list(names)

    def _one_per_feature(self: Any) -> Any:
        got = [r.feature_name for r in self.results]
        if len(got) != len(expected) or not all(same_name(g, e) for g, e in zip(got, expected)):
            raise ValueError(f"results must be one per feature, in order: {expected}; got {got}")
        return self

    return create_model(
        "FulfillmentAnswer",
        __config__=ConfigDict(extra="forbid"),
        __validators__={"_one_per_feature": model_validator(mode="after")(_one_per_feature)},
        results=(list[FeatureResult], Field(min_length=len(expected), max_length=len(expected))),
    )


# -- what the judges read ----------------------------------------------------------------------------------
def roles_of(record: EpisodeRecord) -> tuple[str, str]:
    """(simulated human, partner) of an episode."""
    return ("student", "tutor") if "student" in record.agents else ("user", "assistant")


def is_math(record: EpisodeRecord) -> bool:
    return roles_of(record)[0] == "student"


def simulated_turns(record: EpisodeRecord) -> list[tuple[str, str]]:
    """(role, text) of the public conversation: both sides' messages, without the final document."""
    return [
        (e.source, e.text)
        for e in record.events
        if e.kind == "message" and e.source in record.agents and not e.payload.get("final_document")
    ]


def human_messages(record: EpisodeRecord) -> list[str]:
    human, _ = roles_of(record)
    return [text for role, text in simulated_turns(record) if role == human]


def real_messages(record: EpisodeRecord, agent: str = "") -> list[str]:
    """The real human's messages (``agent`` unused: the signature of a ``Length`` reference)."""
    return [str(m) for m in record.scenario.get("human_user_queries", [])]


def final_document(record: EpisodeRecord) -> str | None:
    for event in record.events:
        if event.kind == "message" and event.payload.get("final_document"):
            return event.text
    return None


def render(turns: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"- {NAMES[role]}: {text}" for role, text in turns) or "(empty)"


def real_conversation(record: EpisodeRecord) -> str:
    human, partner = roles_of(record)
    turns = record.scenario.get("human_public_conversation", [])
    return render([(human if t["role"] == "user" else partner, t["content"]) for t in turns])


def target_features(record: EpisodeRecord) -> list[tuple[str, Feature]]:
    """(category, feature) pairs the fulfillment judge checks: the stored row's own list."""
    row_model = MathRow if is_math(record) else DocRow
    return row_model.model_validate(record.scenario).target_features()


def task_context(record: EpisodeRecord) -> str:
    row = record.scenario
    if is_math(record):
        return f"## The problem\n{row['problem']}\n\n"
    return f"## The task\nDocument type: {row['document_type']}\nGoal: {row['intent']}\n\n"


# -- detectors ---------------------------------------------------------------------------------------------
class LeftoverLabels(Detector):
    """A ``Query:`` / ``Response:`` / ``Message:`` label left inside a message (a script of several turns)."""

    name = "leftover_labels"

    def __init__(self, severity: Literal["low", "medium", "high"] = "low") -> None:
        self.severity = severity

    def evidence(self, turns: Sequence[str]) -> list[str]:
        return [m.group(0) for turn in turns for m in LABEL.finditer(turn)]


class TerminationWithText(Detector):
    """A ``terminate conversation`` action that also carried other text (dropped by the env)."""

    name = "termination_with_text"

    def __init__(self, severity: Literal["low", "medium", "high"] = "low") -> None:
        self.severity = severity

    def evidence(self, turns: Sequence[str]) -> list[str]:
        return []  # the evidence is in the events' payloads, not in the visible turns

    def all_evidence(self, record: EpisodeRecord, agent: str) -> list[str]:
        return [
            str(e.payload.get("dropped_text", ""))[:160]
            for e in record.events
            if e.source == agent and e.payload.get("termination_with_text")
        ]

    def detect(self, record: EpisodeRecord, agent: str) -> Flag:
        return self.flag(self.all_evidence(record, agent))


def detectors() -> list[Detector]:
    return [
        AssistantRegister(),
        Length(ratio=3.0, reference=real_messages),
        Repetition(),
        ThinkLeak(),
        LeftoverLabels(),
        TerminationWithText(),
    ]


# -- the formula -------------------------------------------------------------------------------------------
def likert(value: int) -> float:
    """Likert 1..5 → [0, 1]: ``(s − 1)/4``."""
    return (value - 1) / 4


def odyssim_math(writing: int, interaction: int, fulfillment: float | None) -> float:
    """The original's math score: ``(clip(W/5) + clip(I/5) + (F or 0))/3``."""
    return (min(1.0, max(0.0, writing / 5)) + min(1.0, max(0.0, interaction / 5)) + (fulfillment or 0.0)) / 3


def odyssim_doc(rating: int, writing: int, interaction: int, f_w: float | None, f_i: float | None) -> float:
    """The original's document score: ``(clip(D/10) + clip(W/5) + clip(I/5) + F_w + F_i)/5``, an empty
    feature category counting 0."""
    clip = [
        min(1.0, max(0.0, rating / 10)),
        min(1.0, max(0.0, writing / 5)),
        min(1.0, max(0.0, interaction / 5)),
    ]
    return (sum(clip) + (f_w or 0.0) + (f_i or 0.0)) / 5


def match_rates(
    items: Sequence[tuple[str, Feature]], results: Sequence[FeatureResult]
) -> dict[str, float | None]:
    """Share of "Match" per category (None for a category without features) and overall (``f``)."""
    by_category: dict[str, list[bool]] = {}
    for (category, _), result in zip(items, results):
        by_category.setdefault(category, []).append(result.classification == "Match")
    rates: dict[str, float | None] = {c: statistics.fmean(v) if v else None for c, v in by_category.items()}
    matches = [r.classification == "Match" for r in results]
    rates["all"] = statistics.fmean(matches) if matches else None
    return rates


class SimArenaJudge(LLMJudge):
    kind = "simarena"
    version = PROMPT_VERSION

    def __init__(
        self,
        model: JudgeModel = None,
        *,
        reward: str = "style",
        penalize_flags: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(model, **kw)
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        self.reward = reward
        self.penalize_flags = penalize_flags
        self.detectors = detectors()

    def params(self) -> dict[str, Any]:
        return {"reward": self.reward, "penalize_flags": self.penalize_flags}

    def without_model(self, record: EpisodeRecord, agent: str) -> Judgment | None:
        _, partner = roles_of(record)
        if (record.termination or "").startswith(f"invalid {partner}"):
            return Judgment.failed(
                agent, f"the {partner} gave no reply: a partial conversation is not scored", self.spec
            )
        if human_messages(record):
            return None
        return Judgment(
            agent=agent,
            score=0.0,
            dims={"n_human_turns": 0.0, "n_real_turns": float(len(real_messages(record)))},
            reasons={
                "simulated": "the simulated human wrote no message",
                "termination": str(record.termination),
            },
            judge=self.spec,
        )

    def queries(self, record: EpisodeRecord) -> list[Query]:
        if self.without_model(record, roles_of(record)[0]) is not None:
            return []
        human, _ = roles_of(record)
        simulated = render(simulated_turns(record))
        context = task_context(record)
        out = [
            Query(
                "writing",
                self._messages(
                    prompts.writing_prompt(context, human, real_messages(record), human_messages(record))
                ),
                LikertAnswer,
                simulated,
            ),
            Query(
                "interaction",
                self._messages(
                    prompts.interaction_prompt(context, human, real_conversation(record), simulated)
                ),
                LikertAnswer,
                simulated,
            ),
        ]
        items = target_features(record)
        if items:
            prompt = prompts.fulfillment_prompt(human, simulated, items, labelled=not is_math(record))
            schema = fulfillment_schema([f.name for _, f in items])
            out.append(Query("fulfillment", self._messages(prompt), schema, simulated))
        document = final_document(record)
        if document is not None:
            row = DocRow.model_validate(record.scenario)
            out.append(
                Query(
                    "document",
                    self._messages(prompts.document_prompt(row, document)),
                    DocumentAnswer,
                    document,
                )
            )
        return out

    def queries_of(self, record: EpisodeRecord, agent: str, names: Sequence[str]) -> list[str]:
        if self.reward == "odyssim" and not is_math(record):
            return list(names)
        return [n for n in names if n != "document"]

    @staticmethod
    def _messages(prompt: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": prompts.JUDGE_SYSTEM}, {"role": "user", "content": prompt}]

    def score(self, record: EpisodeRecord, agent: str, answers: Mapping[str, BaseModel]) -> Scored:
        writing: LikertAnswer = answers["writing"]  # type: ignore[assignment]
        interaction: LikertAnswer = answers["interaction"]  # type: ignore[assignment]
        w, i = likert(writing.similarity_score), likert(interaction.similarity_score)
        dims: dict[str, float] = {
            "writing_style": float(writing.similarity_score),
            "interaction_style": float(interaction.similarity_score),
            "w": w,
            "i": i,
            "n_human_turns": float(len(human_messages(record))),
            "n_real_turns": float(len(real_messages(record))),
        }
        reasons = {
            "writing": "; ".join(writing.key_differences),
            "interaction": "; ".join(interaction.key_differences),
            "termination": str(record.termination),
        }
        components = [w, i]
        items = target_features(record)
        rates: dict[str, float | None] = {}
        if items and "fulfillment" in answers:
            results = answers["fulfillment"].results  # type: ignore[attr-defined]
            rates = match_rates(items, results)
            for k, ((category, feature), result) in enumerate(zip(items, results), start=1):
                dims[f"match.{k}"] = 1.0 if result.classification == "Match" else 0.0
                reasons[f"match.{k}"] = (
                    f"[{category}] {feature.name}: {result.classification}. {result.analysis}"
                )
        if is_math(record):
            f = rates.get("all")
            if f is None:
                reasons["f"] = "not applicable: the row has no target features"
            else:
                dims["f"] = f
                components.append(f)
            original = odyssim_math(writing.similarity_score, interaction.similarity_score, f)
        else:
            for category, name in CATEGORY_DIMS.items():
                rate = rates.get(category)
                if rate is None:
                    reasons[name] = f"not applicable: the row has no {category} features"
                else:
                    dims[name] = rate
                    components.append(rate)
            original = None
            if "document" in answers:
                document: DocumentAnswer = answers["document"]  # type: ignore[assignment]
                dims["document_rating"] = float(document.rating)
                dims["d"] = (document.rating - 1) / 9
                dims["document_words"] = float(len((final_document(record) or "").split()))
                reasons["document"] = document.analysis
                original = odyssim_doc(
                    document.rating,
                    writing.similarity_score,
                    interaction.similarity_score,
                    rates.get("writing style"),
                    rates.get("interaction style"),
                )
        style = statistics.fmean(components)
        dims["n_components"] = float(len(components))
        dims["score_style"] = style
        if original is not None:
            dims["score_odyssim"] = original
        if self.reward == "odyssim":
            if original is None:
                raise ValueError("reward='odyssim' needs the document rating")
            return Scored(score=original, dims=dims, reasons=reasons)
        return Scored(score=style, dims=dims, reasons=reasons)

    def _judgment(self, record: EpisodeRecord, agent: str, answers: Mapping[str, Answer]) -> Judgment:
        judgment = super()._judgment(record, agent, answers)
        flags = run_detectors(record, agent, self.detectors)
        return attach_flags(judgment, flags, penalize=self.penalize_flags)


def default_judge(
    judge_model: JudgeModel = None,
    *,
    reward: str = "style",
    penalize_flags: bool = False,
    cache: JudgeCache | None = None,
    **kw: Any,
) -> SimArenaJudge:
    """The judge both SimulatorArena envs use by default. ``judge_model`` is a policy or a policy spec
    string (``None``: the local ``"tiny"`` model), resolved on first use."""
    return SimArenaJudge(judge_model, reward=reward, penalize_flags=penalize_flags, cache=cache, **kw)
