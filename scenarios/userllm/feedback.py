"""UserLLM feedback (docs/tasks.md#userllm-feedback): written by rules from the judgment, no LLM.

CSQA: name the answer choices the draft leaked and ask the user to stay the one asking. NQ: insist on
the original question and do not take up the assistant's suggestion. PRISM: fix the termination
decision, and turn the AI-text detector's reasoning into one concrete style note (a fixed note chosen by
keywords, never the reasoning itself). Feedback never tells the user to reuse the intent's keywords
(``intent_overlap`` is lower-is-better). The leakage check (docs/judges.md#feedback) rejects feedback
that repeats 8 words of the user's own texts (the intent, the NQ question, earlier user turns); the
writer then tries once more without quoting anything, and otherwise gives no feedback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from judges.feedback import FeedbackResult, Gold, find_leak
from judges.judgment import Feedback, Judgment
from judges.matching import choices_present
from osim_env.episode import EpisodeRecord
from scenarios.userllm.judge import reply_of, row_of
from scenarios.userllm.prompts import END_TOKEN
from scenarios.userllm.schema import UserLLMRow

PROMPT_VERSION = "userllm-feedback-v1"
# (keywords in the detector's reasoning, the style note); the first rule that matches is used.
STYLE_NOTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("list", "bullet", "numbered", "heading", "markdown", "format"),
        "write plain running text, with no lists, headings or formatting",
    ),
    (
        ("long", "lengthy", "verbose", "detailed", "elaborate", "thorough", "comprehensive"),
        "keep it short: one or two brief sentences, the way people type to a chatbot",
    ),
    (
        (
            "formal",
            "polite",
            "grammar",
            "grammatical",
            "punctuat",
            "polished",
            "perfect",
            "complete sentence",
        ),
        "write more casually: plain words, loose punctuation, lowercase is fine",
    ),
    (
        ("thank", "grateful", "appreciat", "greeting", "pleasantr", "courteous"),
        "skip greetings, thanks and compliments and get straight to the point",
    ),
    (
        ("generic", "vague", "template", "bland", "impersonal", "cliche", "cliché"),
        "be specific about your own situation instead of asking in general terms",
    ),
    (
        ("assistant", "helpful", "offer", "explanat", "explains"),
        "write as the one asking for help, not as someone explaining things or offering help",
    ),
)
FALLBACK_NOTE = "write the way you would type quickly to a chatbot: short, informal, one point at a time"


def style_note(reasoning: str) -> str:
    """The fixed style note whose keywords occur in the detector's reasoning (or the general one)."""
    lowered = reasoning.lower()
    for keywords, note in STYLE_NOTES:
        if any(re.search(rf"\b{re.escape(k)}", lowered) for k in keywords):
            return note
    return FALLBACK_NOTE


def quoted(texts: Sequence[str]) -> str:
    items = [f'"{t}"' for t in texts]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def csqa_parts(row: UserLLMRow, message: str, judgment: Judgment, quote: bool) -> dict[str, str]:
    if not message:
        return {
            "role": "You ended the conversation before asking anything: ask your question in your own words."
        }
    leaked = choices_present(message, row.choices)
    if judgment.score == 0.0 and leaked:
        named = f"your message named {quoted(leaked)}" if quote else "your message named possible answers"
        return {
            "role": f"You answered your own question: {named}. Stay the one asking: ask the question and "
            "leave the answer to the assistant, without naming or hinting at possible answers."
        }
    return {
        "role": "You stayed the one asking without offering an answer; keep leaving the answer to the "
        "assistant."
    }


def nq_parts(judgment: Judgment) -> dict[str, str]:
    if judgment.score == 1.0:
        return {
            "intent": "You kept to your original question; keep insisting on it instead of following detours."
        }
    if judgment.dims.get("ended") == 1.0:
        return {
            "intent": "You ended the conversation although your question was never answered. Insist on the "
            "original question and do not take up the assistant's suggestion."
        }
    return {
        "intent": "You went along with the assistant's suggestion. Insist on your original question and do "
        "not take up the suggestion: ask again, more directly, for what you wanted to know."
    }


def prism_parts(judgment: Judgment, ended: bool, quote: bool) -> dict[str, str]:
    parts = {}
    if judgment.dims.get("termination_correct") == 0.0:
        parts["termination"] = (
            "You ended the conversation although your goal was not met yet: write your next message and end "
            "only once the goal is met."
            if ended
            else f"Your goal was already met, so the conversation was over: reply only with {END_TOKEN} "
            "instead of writing another message."
        )
    elif "termination_correct" in judgment.dims:
        parts["termination"] = "Your decision whether to end the conversation was right."
    elif ended and "human_like" not in judgment.dims:
        parts["termination"] = (
            "You ended the conversation before it started: write a message that pursues your goal."
        )
    if judgment.dims.get("human_like") == 0.0:
        note = style_note(judgment.reasons.get("human_like", "")) if quote else FALLBACK_NOTE
        parts["style"] = f"Your message read as written by an AI; to sound like a person, {note}."
    elif judgment.dims.get("human_like") == 1.0:
        parts["style"] = "Your message read as written by a person; keep that tone."
    return parts


def feedback_parts(record: EpisodeRecord, judgment: Judgment, *, quote: bool = True) -> dict[str, str]:
    """One sentence per aspect of the draft; ``quote=False`` names no text from the draft or the
    detector (the regeneration after a leak)."""
    row = row_of(record)
    reply, reason = reply_of(record, judgment.agent)
    if reply is None or judgment.dims.get("valid") == 0.0:
        return {
            "reply": f"Your reply could not be used ({reason or 'invalid'}). Write one message as the user: "
            "just the text you would type, with no labels or notes."
        }
    if row.subset == "csqa":
        return csqa_parts(row, reply.message, judgment, quote)
    if row.subset == "nq":
        return nq_parts(judgment)
    return prism_parts(judgment, reply.ended, quote)


def gold_of(record: EpisodeRecord) -> Gold:
    """What feedback must not repeat (8-word spans): the user's own texts of the row."""
    row = row_of(record)
    return Gold(reference=tuple(t for t in (row.intent, row.question, *row.user_turns()) if t))


class UserLLMFeedbackWriter:
    """Rule-based feedback with the interface of ``judges.feedback.FeedbackWriter``."""

    kind = "feedback"

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "task": "userllm", "version": PROMPT_VERSION, "model": None}

    def feedback_for(self, record: EpisodeRecord, judgment: Judgment) -> FeedbackResult:
        if judgment.error is not None or judgment.score is None:
            return FeedbackResult(None, "the draft has no valid judgment")
        gold = gold_of(record)
        parts = feedback_parts(record, judgment)
        leak = find_leak(" ".join(parts.values()), gold)
        if leak is not None:  # one regeneration, quoting nothing
            parts = feedback_parts(record, judgment, quote=False)
            second = find_leak(" ".join(parts.values()), gold)
            if second is not None:
                return FeedbackResult(None, f"feedback leaks the gold after one regeneration: {second}")
        return FeedbackResult(Feedback(critique=" ".join(parts.values()), per_dimension=parts))

    async def feedback_batch(self, items: Sequence[tuple[EpisodeRecord, Judgment]]) -> list[FeedbackResult]:
        return [self.feedback_for(record, judgment) for record, judgment in items]

    def attach(self, record: EpisodeRecord, judgment: Judgment) -> Judgment:
        """The judgment with its feedback; unchanged but for ``flags["feedback_error"]`` without one."""
        result = self.feedback_for(record, judgment)
        if result.feedback is None:
            return judgment.model_copy(update={"flags": {**judgment.flags, "feedback_error": result.error}})
        return judgment.model_copy(update={"feedback": result.feedback})


def default_feedback_writer() -> UserLLMFeedbackWriter:
    """The UserLLM feedback writer (rule-based: it needs no model)."""
    return UserLLMFeedbackWriter()
