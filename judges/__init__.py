"""Judges: map an episode (or a turn) to a ``Judgment``.

The contract (``Judgment``, ``Judge``, ``SyncJudge``, ``Feedback``) is imported eagerly; the judges
themselves load on first use so ``import judges`` stays cheap (no DuckDB, metric libraries or
model backends until they are needed).
"""

from typing import Any

from judges.judgment import Feedback, Judge, Judgment, TurnJudge
from judges.sync_judge import SyncJudge

_LAZY = {
    # LLM judges and their machinery
    "LLMJudge": "judges.llm",
    "Query": "judges.llm",
    "Scored": "judges.llm",
    "StructuredCaller": "judges.llm",
    "resolve_model": "judges.llm",
    "JudgeCache": "judges.cache",
    "ParseError": "judges.parsing",
    "parse_answer": "judges.parsing",
    # composition
    "Rubric": "judges.rubric",
    "Jury": "judges.rubric",
    # rule judges
    "MCQJudge": "judges.rules",
    "LocationMatchJudge": "judges.rules",
    "ChoiceLeakJudge": "judges.rules",
    "TokenF1Judge": "judges.rules",
    "LexicalDiversityJudge": "judges.rules",
    "ReferenceOverlapJudge": "judges.rules",
    # detectors
    "Flag": "judges.detectors",
    "JudgeAddress": "judges.detectors",
    "AssistantRegister": "judges.detectors",
    "Repetition": "judges.detectors",
    "Length": "judges.detectors",
    "ThinkLeak": "judges.detectors",
    "attach_flags": "judges.detectors",
    "default_detectors": "judges.detectors",
    "HackAuditor": "judges.hack_auditor",
    # single turns
    "judge_turn": "judges.turns",
    "judge_turn_batch": "judges.turns",
    "turn_prefix": "judges.turns",
    "turn_indices": "judges.turns",
    # feedback
    "FeedbackWriter": "judges.feedback",
    "FeedbackResult": "judges.feedback",
    "Gold": "judges.feedback",
    "find_leak": "judges.feedback",
    "gate_allows": "judges.feedback",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'judges' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["Feedback", "Judge", "Judgment", "SyncJudge", "TurnJudge", *_LAZY]
