"""tau-user feedback (docs/tasks.md#tau-user-feedback): written by rules from the judgment and the
transcript, no LLM.

One sentence per aspect that needs it: front-loading (too much said in the first two turns), agent-like
phrasing, over-politeness, a premature ``###STOP###`` (in the first turn, or before the task was done) or a
missing one, then the task outcome. Feature gaps are measured against the row's ``human_targets`` when it has
them, else against fixed defaults. The leakage check (docs/judges.md#feedback) rejects feedback that names a
required output of the task or repeats 8 words of the user's instructions; the writer then tries once more
without the outcome sentence, and otherwise gives no feedback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judges.feedback import FeedbackResult, Gold, find_leak
from judges.judgment import Feedback, Judgment
from osim_env.episode import EpisodeRecord
from scenarios.tau_user.features import STOP_MARKERS
from scenarios.tau_user.judge import ended_by_user_stop, row_of, user_messages

PROMPT_VERSION = "tau-user-feedback-v1"
# Defaults when the row has no human target for a feature (typical of people typing to a support chat).
DEFAULT_LIMITS = {"info_frontload": 0.7, "politeness_rate": 0.5, "agent_register_rate": 0.0}
OVER = 1.5  # a feature above OVER x its human target is a gap


def _limit(name: str, targets: dict[str, float]) -> float:
    return targets[name] * OVER if name in targets else DEFAULT_LIMITS[name]


def feedback_parts(record: EpisodeRecord, judgment: Judgment, *, with_outcome: bool = True) -> dict[str, str]:
    row = row_of(record)
    targets = row.human_targets or {}
    dims = judgment.dims
    messages = user_messages(record)
    parts: dict[str, str] = {}
    if dims.get("info_frontload", 0.0) > _limit("info_frontload", targets) and len(messages) > 2:
        parts["frontload"] = (
            "You said almost everything in your first two messages; real customers give details one at a "
            "time, when the agent asks for them."
        )
    if dims.get("agent_register_rate", 0.0) > _limit("agent_register_rate", targets):
        parts["register"] = (
            "Some of your messages sounded like the support agent (offers of help, lists, sign-offs); "
            "you are the customer asking for help."
        )
    if dims.get("politeness_rate", 0.0) > _limit("politeness_rate", targets):
        parts["politeness"] = "You were more polite than customers usually are; fewer pleases and thank-yous."
    first_stop = bool(messages) and any(m in messages[0] for m in STOP_MARKERS)
    if first_stop:
        parts["stop"] = "You ended the conversation in your first message, before saying what you needed."
    elif not ended_by_user_stop(record):
        parts["stop"] = "You never ended the conversation: write ###STOP### alone once your goal is met."
    elif dims.get("task_reward") == 0.0:
        parts["stop"] = (
            "You ended the conversation before your request was completed; end only once it is done."
        )
    if with_outcome:
        done = dims.get("task_reward") == 1.0
        parts["outcome"] = (
            "Your request was completed." if done else "Your request was not completed in this conversation."
        )
    return parts


def gold_of(record: EpisodeRecord) -> Gold:
    """What feedback must not reveal: the task's required outputs and the user's instructions."""
    row = row_of(record)
    return Gold(texts=tuple(row.task().communicate_info), reference=(row.user_instructions(),))


class TauUserFeedbackWriter:
    """Rule-based feedback with the interface of ``judges.feedback.FeedbackWriter``."""

    kind = "feedback"

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "task": "tau_user", "version": PROMPT_VERSION, "model": None}

    def feedback_for(self, record: EpisodeRecord, judgment: Judgment) -> FeedbackResult:
        if judgment.error is not None or judgment.score is None:
            return FeedbackResult(None, "the draft has no valid judgment")
        gold = gold_of(record)
        parts = feedback_parts(record, judgment)
        if find_leak(" ".join(parts.values()), gold) is not None:
            parts = feedback_parts(record, judgment, with_outcome=False)
            second = find_leak(" ".join(parts.values()), gold)
            if second is not None:
                return FeedbackResult(None, f"feedback leaks the gold after one regeneration: {second}")
        if not parts:
            return FeedbackResult(None, "nothing to say")
        return FeedbackResult(Feedback(critique=" ".join(parts.values()), per_dimension=parts))

    async def feedback_batch(self, items: Sequence[tuple[EpisodeRecord, Judgment]]) -> list[FeedbackResult]:
        return [self.feedback_for(record, judgment) for record, judgment in items]

    def attach(self, record: EpisodeRecord, judgment: Judgment) -> Judgment:
        """The judgment with its feedback; unchanged but for ``flags["feedback_error"]`` without one."""
        result = self.feedback_for(record, judgment)
        if result.feedback is None:
            return judgment.model_copy(update={"flags": {**judgment.flags, "feedback_error": result.error}})
        return judgment.model_copy(update={"feedback": result.feedback})


def default_feedback_writer() -> TauUserFeedbackWriter:
    """The tau-user feedback writer (rule-based: it needs no model)."""
    return TauUserFeedbackWriter()
