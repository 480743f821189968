"""Sotopia feedback (docs/tasks.md#sotopia): a coaching brief for the policy's character.

300–1,000 words; for each of the judge's seven dimensions the score and range, what the judge looked
for and its reasoning, the line where it went wrong, what to do instead and one example line; goal
first, then relationship and knowledge; it closes with the top two priorities. The brief never coaches
the character to mention the judge, scores or dimensions in the conversation. Sotopia has no gold
answer, so there is nothing to leak; the word bounds are checked as part of the answer schema.
"""

from __future__ import annotations

from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter
from judges.judgment import Judgment
from judges.llm import JudgeModel
from judges.transcript import render_transcript
from osim_env.episode import EpisodeRecord
from scenarios.sotopia.judge import DIMENSIONS, sotopia_line
from scenarios.sotopia.schema import SotopiaRow

# Goal first, then relationship and knowledge, then the rest (docs/tasks.md#sotopia).
ORDER = (
    "goal",
    "relationship",
    "knowledge",
    "believability",
    "secret",
    "social_rules",
    "financial_and_material_benefits",
)
MIN_WORDS, MAX_WORDS = 300, 1000
PROMPT_VERSION = "sotopia-feedback-v1"


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    row = SotopiaRow.model_validate(record.scenario)
    agent = judgment.agent
    other = "agent2" if agent == "agent1" else "agent1"
    names = {"agent1": row.agent1_name, "agent2": row.agent2_name}
    transcript = render_transcript(record, names, describe=sotopia_line(row))
    info = {name: (lo, hi, what) for name, lo, hi, what in DIMENSIONS}
    scored = []
    for dim in ORDER:
        lo, hi, what = info[dim]
        score = judgment.dims.get(dim)
        shown = "n/a" if score is None else f"{score:g}"
        scored.append(
            f"- {dim}: {shown} (range {lo}..{hi}). Looked for: {what}\n"
            f"  Judge's reasoning: {judgment.reasons.get(dim, '(none)')}"
        )
    user = "\n\n".join(
        [
            f"## Scenario\n{row.setting_text()}\nRelationship: {row.relationship}",
            f"## The character you coach: {names[agent]}\n"
            f"Background: {getattr(row, f'{agent}_background') or '-'}\n"
            f"Goal: {getattr(row, f'{agent}_goal')}",
            f"## The other character: {names[other]}\nGoal: {getattr(row, f'{other}_goal')}",
            f"## The conversation\n{transcript or '(no turns)'}",
            "## The evaluation of this attempt\n" + "\n".join(scored),
            "## Your task\nWrite a coaching brief for the person who will play "
            f"{names[agent]} again in the same scenario. For each dimension, in the order above: the score "
            "and range, what was looked for and why it got this score, the line where it went wrong, what to "
            "do instead, and one example line. Close with the top two priorities. "
            f"The brief must be {MIN_WORDS} to {MAX_WORDS} words. Never tell the character to mention "
            "judges, scores, evaluations or these dimensions in the conversation: the advice is about how to "
            "act.\n"
            'Answer with one JSON object: {"critiques": {"<dimension>": "<critique>", ...}, "reflection": '
            '"<two sentences on what went wrong overall>", "feedback": "<the coaching brief>"}.',
        ]
    )
    return [
        {
            "role": "system",
            "content": "You are a drama and negotiation coach who gives concrete, actionable advice.",
        },
        {"role": "user", "content": user},
    ]


def default_feedback_writer(
    model: JudgeModel = None,
    *,
    cache: JudgeCache | None = None,
    min_words: int | None = MIN_WORDS,
    max_words: int | None = MAX_WORDS,
    **kw: Any,
) -> FeedbackWriter:
    """The Sotopia feedback writer (its model: a policy or a spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="sotopia",
        dimensions=ORDER,
        prompt=feedback_prompt,
        min_words=min_words,
        max_words=max_words,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
