"""TwinVoice feedback (docs/tasks.md#twinvoice-feedback): one sentence on what the draft overlooked.

The stylistic pattern, tone, vocabulary or stance in the person's past posts that should have decided
the choice. The writer sees which reply is the person's to know what was missed; the leakage check
(docs/judges.md#feedback) rejects feedback that names the gold letter or quotes any of the replies
(the whole reply, or six words of it in a row).
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.twinvoice.prompts import history_bullets
from scenarios.twinvoice.schema import TwinVoiceRow

DIMENSIONS = ("persona_style",)
MAX_WORDS = 50
PROMPT_VERSION = "twinvoice-feedback-v1"
QUOTE_SPAN = 6  # this many words of a reply in a row count as quoting it


def draft_of(record: EpisodeRecord, agent: str) -> str:
    """The persona's full output (thinking removed), or a note that there was none."""
    acted = [e for e in record.events if e.source == agent and "raw" in e.payload]
    if not acted:
        return "(no answer)"
    event = acted[-1]
    return event.text if event.kind == "message" else str(event.payload.get("raw", ""))


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = TwinVoiceRow.model_validate(record.scenario)
    history = history_bullets(row.conversation_history)
    options = "\n".join(f"{letter}. {text}" for letter, text in zip("ABCD", row.answer_choices))
    verdict = "correct" if judgment.score == 1.0 else "wrong"
    why = judgment.reasons.get("answer", "")
    user = (
        f"## The person's past posts\n{history}\n\n## New post\n{row.anchor_post}\n\n"
        f"## Candidate replies\n{options}\n\n"
        f"## The reply the person wrote (for you only)\n{row.gold}. {row.answer_choices[row.answer_idx]}\n\n"
        f"## The attempt ({verdict}; {why})\n{draft_of(record, judgment.agent)}\n\n"
        "## Your task\nIn ONE sentence, name the stylistic pattern, tone, vocabulary or stance in the "
        "person's past posts that the attempt overlooked or should weigh more. Describe the person, not "
        "the replies: never give a letter and never quote a reply.\n"
        'Answer with one JSON object: {"critiques": {"persona_style": "<what the attempt missed about '
        'the person>"}, "reflection": "<one sentence>", "feedback": "<the one-sentence hint>"}.'
    )
    return [
        {
            "role": "system",
            "content": "You are an expert on how people write online. You never reveal answers.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    """The gold letter; every reply's text, since feedback must quote none of them."""
    row = TwinVoiceRow.model_validate(record.scenario)
    replies = tuple(row.answer_choices)
    return Gold(letter=row.gold, texts=replies, reference=replies, span=QUOTE_SPAN)


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The TwinVoice feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="twinvoice",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
