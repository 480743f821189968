"""LifeChoices feedback (docs/tasks.md#lifechoices-feedback): one sentence naming the trait, value or
past experience in the biography that the draft overlooked.

The writer sees the biography exactly as the character saw it (cut by ``max_context_chars`` the same
way), the question and the gold, and the leakage check (docs/judges.md#feedback) rejects feedback that
names the gold letter or the gold option text.
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.extraction import LETTERS
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.lifechoices.prompts import cut_middle
from scenarios.lifechoices.schema import LifeChoicesRow

DIMENSIONS = ("character_fidelity",)
MAX_WORDS = 60
PROMPT_VERSION = "lifechoices-feedback-v1"


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The character's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = LifeChoicesRow.model_validate(record.scenario)
    biography = cut_middle(row.input_text, record.options.get("max_context_chars"))
    options = "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(row.options))
    verdict = "correct" if judgment.score == 1.0 else "wrong"
    why = judgment.reasons.get("answer", "")
    user = (
        f"## Character\n{row.character_name}{f' ({row.book})' if row.book else ''}\n\n"
        f"## Biography\n{biography}\n\n## Scenario\n{row.setting}\n\n## Question\n{row.question}\n\n"
        f"## Options\n{options}\n\n"
        f"## Gold answer (for you only)\n{row.gold}. {row.gold_text()}\n\n"
        f"## The student's attempt ({verdict}; {why})\n"
        f"{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nIn ONE sentence, name the trait, value or past experience from the biography that "
        "the attempt overlooked or should weigh more when deciding as this character. Never give the "
        "option letter or the option text.\n"
        'Answer with one JSON object: {"critiques": {"character_fidelity": "<what the attempt missed>"}, '
        '"reflection": "<one sentence>", "feedback": "<the one-sentence hint>"}.'
    )
    return [
        {
            "role": "system",
            "content": "You are a coach for character role play. You never reveal answers.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    row = LifeChoicesRow.model_validate(record.scenario)
    return Gold(letter=row.gold, texts=(row.gold_text(),))


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The LifeChoices feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="lifechoices",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
