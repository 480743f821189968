"""FanToM's rule judge (docs/tasks.md#fantom): one scoring rule per question family.

- multiple choice: 1 iff the extracted letter is the gold option's letter (``MCQJudge``);
- list: 1 iff every gold name and no wrong name occurs as a whole word (case-insensitive);
- binary: 1 iff the answer's polarity is the gold's and the opposite polarity is absent, so a hedge
  ("yes and no") scores 0;
- fact: SQuAD token F1 against the gold text (``TokenF1Judge``).

The answer is always the content of the answer tag; without a tag the answer is invalid and scores 0.
Each judgment carries the score under its question family and its question type as well
(``family.<family>``, ``type.<question type>``), so that accuracy can be broken down by type; the
``length`` detector is reported in ``flags`` and never changes the score.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from judges.detectors import Length, attach_flags
from judges.extraction import LETTERS, extract_answer
from judges.judgment import Judgment
from judges.rules import MCQJudge, RuleJudge, TokenF1Judge, final_text
from osim_env.episode import EpisodeRecord
from scenarios.fantom.schema import FanToMRow, mc_options, type_key

MAX_WORDS = 300  # the length detector's cap for one answer (reported only)

_YES = re.compile(r"\b(?:yes|true|knows)\b", re.IGNORECASE)
_NO = re.compile(r"\b(?:no|false)\b|\b(?:does\s+not|doesn['’]t)\s+know\b", re.IGNORECASE)


def named(text: str, name: str) -> bool:
    """Whether ``name`` occurs in ``text`` as a whole word (or words), in any case."""
    words = r"\s+".join(re.escape(part) for part in name.split())
    return re.search(rf"(?<!\w){words}(?!\w)", text, re.IGNORECASE) is not None


def list_verdict(answer: str, gold: Sequence[str], wrong: Sequence[str]) -> tuple[bool, str]:
    """1 iff every gold name is named and no wrong name is; the reason lists what is missing or wrong."""
    missing = [name for name in gold if not named(answer, name)]
    extra = [name for name in wrong if named(answer, name)]
    if not missing and not extra:
        return True, "named every gold name and no wrong name"
    return False, f"missing {missing}, wrong names {extra}"


def polarity(answer: str) -> tuple[bool, bool]:
    """Whether the answer says yes (yes, true, knows) and whether it says no (no, false, does not know)."""
    return bool(_YES.search(answer)), bool(_NO.search(answer))


def binary_verdict(answer: str, gold: str) -> tuple[bool, str]:
    says_yes, says_no = polarity(answer)
    said = {(True, False): "yes", (False, True): "no", (True, True): "both", (False, False): "neither"}
    verdict = said[(says_yes, says_no)]
    return verdict == gold, f"answered {verdict}, gold {gold}"


def gold_letter(row: Mapping[str, Any]) -> str:
    """The multiple-choice gold letter of a stored row (``correct_answer`` is the option index)."""
    return LETTERS[int(row["correct_answer"])]


def n_options(row: Mapping[str, Any]) -> int:
    return len(mc_options(str(row["complete_question"])))


class FanToMJudge(RuleJudge):
    """Scores the answerer by the rule of the row's question family (see the module docstring)."""

    kind = "fantom"

    def __init__(self, max_words: int = MAX_WORDS) -> None:
        self.max_words = max_words
        self.multiple_choice = MCQJudge(gold=gold_letter, n_options=n_options)
        self.fact = TokenF1Judge(gold="correct_answer")
        self.length = Length(max_words=max_words)

    def params(self) -> dict[str, Any]:
        return {"max_words": self.max_words}

    def judge_agent(self, record: EpisodeRecord, agent: str) -> Judgment:
        try:
            row = FanToMRow.model_validate(record.scenario)
        except ValidationError as exc:
            return Judgment.failed(agent, f"the episode's row is not a FanToM row: {exc}", self.spec)
        if row.family == "multiple_choice":
            judgment = self.multiple_choice.judge_agent(record, agent)
        elif row.family == "fact":
            judgment = self.fact.judge_agent(record, agent)
        else:
            judgment = self.judge_tag(record, agent, row)
        if judgment.score is None:  # a rule judge fails only on a bug; the error is kept, never a score
            return judgment.model_copy(update={"judge": self.spec})
        breakdown = {
            f"family.{row.family}": judgment.score,
            f"type.{type_key(row.question_type)}": judgment.score,
        }
        judgment = judgment.model_copy(update={"dims": {**judgment.dims, **breakdown}, "judge": self.spec})
        return attach_flags(judgment, [self.length.detect(record, agent)])

    def judge_tag(self, record: EpisodeRecord, agent: str, row: FanToMRow) -> Judgment:
        """List and binary questions: the answer tag's content against the gold."""
        text, reason = final_text(record, agent)
        if text is None:
            return self.invalid(agent, reason or "no answer found")
        extraction = extract_answer(text)
        if extraction.answer is None:
            return self.invalid(agent, extraction.reason or "no answer found")
        if row.family == "list":
            assert isinstance(row.correct_answer, list) and isinstance(row.wrong_answer, list)
            correct, why = list_verdict(extraction.answer, row.correct_answer, row.wrong_answer)
        else:
            correct, why = binary_verdict(extraction.answer, str(row.correct_answer))
        return self.verdict(agent, correct, why)


def fantom_judge() -> FanToMJudge:
    return FanToMJudge()
