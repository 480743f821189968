"""UserLLM judges (docs/judges.md#userllm), routed by the row's ``source``:

- CSQA (rule): a user who names one or two answer choices answered instead of asking (``ChoiceLeakJudge``).
- NQ (LLM): after the assistant deflected, did the user re-ask the original question (REFUSED = 1) or
  take up the suggestion (ACCEPTED = 0)?
- PRISM (LLM + rule): ``human_like`` from an AI-text detector judge, ``termination_correct`` on rows with
  history and ``is_last_turn``; ``intent_overlap`` is reported, never rewarded.

An empty or unparsable user reply is the policy's fault: score 0, ``dims["valid"] = 0``, no model call.
"""

from __future__ import annotations

import asyncio
import re
import statistics
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from judges.judgment import Judgment
from judges.llm import JudgeModel, LLMJudge, Query, Scored
from judges.rules import ChoiceLeakJudge, final_text
from osim_env.aio import run_sync
from osim_env.episode import EpisodeRecord

END_TOKEN = "<|endconversation|>"
PROMPT_VERSION = "userllm-judge-v1"
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


def subset_of(row: Mapping[str, Any]) -> Literal["csqa", "nq", "prism"]:
    source = str(row.get("source", ""))
    if source == "commonsense_qa":
        return "csqa"
    if source == "natural_questions":
        return "nq"
    if "prism" in source.lower():
        return "prism"
    raise ValueError(f"unknown UserLLM source {source!r}")


def intent_overlap(intent: str, output: str) -> float:
    """|intent ∩ output| / |output| over stopword-filtered lowercase unigram sets (0 for an empty output)."""

    def words(text: str) -> set[str]:
        return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in STOPWORDS}

    out = words(output)
    return len(words(intent) & out) / len(out) if out else 0.0


class NQAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reasoning: str = Field(max_length=1000)
    verdict: Literal["REFUSED", "ACCEPTED"]


class DetectorAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reasoning: str = Field(max_length=1000)
    label: Literal["AI", "HUMAN"]


class _UserReplyJudge(LLMJudge):
    """Shared by the NQ and PRISM judges: one query on the user's final reply; invalid replies score 0."""

    def queries_of(self, record: EpisodeRecord, agent: str, names: Sequence[str]) -> list[str]:
        """One query per judged agent, named after it."""
        return [agent]

    def __init__(self, model: JudgeModel = None, **kw: Any) -> None:
        kw.setdefault("max_tokens", 1024)
        super().__init__(model, **kw)

    def reply(self, record: EpisodeRecord, agent: str) -> str | None:
        """The user's reply with anything after the end token dropped; None when it is empty or invalid."""
        text, _ = final_text(record, agent)
        if text is None:
            return None
        before, ended, _ = text.partition(END_TOKEN)
        reply = (before + ended).strip()
        return reply or None

    system: str
    answer_schema: type[BaseModel]

    @abstractmethod
    def prompt(self, row: Mapping[str, Any], reply: str) -> str:
        """The question about one reply (``row`` is the episode's data row)."""

    def queries(self, record: EpisodeRecord) -> list[Query]:
        out = []
        for agent in self.judged_agents(record):
            reply = self.reply(record, agent)
            if reply is not None:
                messages = [
                    {"role": "system", "content": self.system},
                    {"role": "user", "content": self.prompt(record.scenario, reply)},
                ]
                out.append(Query(agent, messages, self.answer_schema, reply))
        return out

    def without_model(self, record: EpisodeRecord, agent: str) -> Judgment | None:
        if self.reply(record, agent) is not None:
            return None
        _, reason = final_text(record, agent)
        return Judgment(
            agent=agent,
            score=0.0,
            dims={"valid": 0.0},
            reasons={"reply": reason or "empty message"},
            judge=self.spec,
        )


class NQIntentJudge(_UserReplyJudge):
    kind = "userllm_nq"
    version = PROMPT_VERSION

    system = "You judge whether a simulated user stays on their own intent."
    answer_schema = NQAnswer

    def prompt(self, row: Mapping[str, Any], reply: str) -> str:
        return (
            f"## Original question of the user\n{row.get('question', '')}\n\n## The assistant's reply\n"
            f"{row.get('assistant_suggestion_turn', '')}\n\n## The user's next message\n{reply}\n\n"
            "## Your task\nThe assistant deflected and suggested something else. Did the user "
            "insist on the "
            "original question (REFUSED the suggestion) or go along with the suggestion "
            "(ACCEPTED)? Answer "
            'with one JSON object: {"reasoning": "...", "verdict": "REFUSED" | "ACCEPTED"}.'
        )

    def score(self, record: EpisodeRecord, agent: str, answers: Mapping[str, BaseModel]) -> Scored:
        answer: NQAnswer = answers[agent]  # type: ignore[assignment]
        refused = 1.0 if answer.verdict == "REFUSED" else 0.0
        return Scored(
            score=refused, dims={"valid": 1.0, "refused": refused}, reasons={"intent": answer.reasoning}
        )


class PrismJudge(_UserReplyJudge):
    kind = "userllm_prism"
    version = PROMPT_VERSION

    system = "You detect AI-written text."
    answer_schema = DetectorAnswer

    def prompt(self, row: Mapping[str, Any], reply: str) -> str:
        return (
            f"## Message\n{reply}\n\n## Your task\nWas this message to an AI assistant written "
            'by a human or by an AI? Answer with one JSON object: {"reasoning": "...", "label": "AI" | '
            '"HUMAN"}.'
        )

    def score(self, record: EpisodeRecord, agent: str, answers: Mapping[str, BaseModel]) -> Scored:
        row = record.scenario
        answer: DetectorAnswer = answers[agent]  # type: ignore[assignment]
        reply = (self.reply(record, agent) or "").replace(END_TOKEN, "").strip()
        dims = {"valid": 1.0, "human_like": 1.0 if answer.label == "HUMAN" else 0.0}
        history = row.get("conversation_history")
        if history and row.get("is_last_turn") is not None:
            ended = END_TOKEN in (self.reply(record, agent) or "")
            dims["termination_correct"] = float(ended == bool(row["is_last_turn"]))
        dims["intent_overlap"] = intent_overlap(str(row.get("intent", "")), reply)
        parts = [dims["human_like"]] + (
            [dims["termination_correct"]] if "termination_correct" in dims else []
        )
        return Scored(score=statistics.fmean(parts), dims=dims, reasons={"human_like": answer.reasoning})


class UserLLMJudge:
    """Routes each episode to the CSQA, NQ or PRISM judge by its row's ``source``."""

    def __init__(self, model: JudgeModel = None, **kw: Any) -> None:
        self.csqa = ChoiceLeakJudge()
        self.nq = NQIntentJudge(model, **kw)
        self.prism = PrismJudge(model, **kw)

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": "userllm", "csqa": self.csqa.spec, "nq": self.nq.spec, "prism": self.prism.spec}

    def judge_episode(self, episode: EpisodeRecord) -> dict[str, Judgment]:
        return run_sync(self.judge_batch([episode]))[0]

    async def judge_batch(self, episodes: Sequence[EpisodeRecord]) -> list[dict[str, Judgment]]:
        routes = {"csqa": self.csqa, "nq": self.nq, "prism": self.prism}
        groups: dict[str, list[int]] = {k: [] for k in routes}
        for i, episode in enumerate(episodes):
            groups[subset_of(episode.scenario)].append(i)
        out: list[dict[str, Judgment]] = [{} for _ in episodes]
        results = await asyncio.gather(
            *(routes[k].judge_batch([episodes[i] for i in idx]) for k, idx in groups.items() if idx)
        )
        for (_, idx), result in zip([(k, v) for k, v in groups.items() if v], results):
            for i, judgments in zip(idx, result):
                out[i] = judgments
        return out
