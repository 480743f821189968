"""MirrorBench feedback (docs/tasks.md#mirrorbench): one to three sentences on the biggest stylistic gap
between the simulated user and the real one.

The writer reads the user's goal and style, the simulated conversation, the GTEval and RNR verdicts with
their reasoning, and a few numbers about the real user's turns (how many, how long, casing, questions),
never the real user's words. The leakage check (docs/judges.md#feedback) rejects feedback that repeats
any 8 consecutive words of the reference user turns, so a refined rollout never sees reference text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judges.cache import JudgeCache
from judges.feedback import FeedbackWriter, Gold
from judges.feedback import style_numbers as shared_style_numbers
from judges.judgment import Judgment
from judges.llm import JudgeModel
from osim_env.episode import EpisodeRecord
from scenarios.mirrorbench.judge import (
    max_user_turns,
    proxy_conversation,
    reference_conversation,
    render,
    user_turns,
)

DIMENSIONS = ("gteval", "rnr")
MAX_WORDS = 80
LEAK_SPAN = 8
PROMPT_VERSION = "mirrorbench-feedback-v1"


def style_numbers(turns: Sequence[str]) -> str:
    """Turn count, median words per turn, share starting in lower case, share with a question."""
    return shared_style_numbers(turns, "turn")


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    proxy = proxy_conversation(record)
    human = user_turns(reference_conversation(record.scenario, max_user_turns(record)))
    verdicts = []
    for name in DIMENSIONS:
        if name in judgment.dims:
            verdicts.append(
                f"- {name} = {judgment.dims[name]:g}: {judgment.reasons.get(name, '(no reasoning)')}"
            )
    user = "\n\n".join(
        [
            f"## The user to simulate (goal and style)\n{record.scenario.get('task_description', '')}",
            f"## The simulated conversation\n{render(proxy)}",
            "## The evaluation\n" + ("\n".join(verdicts) or "(no judge reasoning)"),
            f"## The simulated user's turns\n{style_numbers(user_turns(proxy))}",
            f"## The real user's turns\n{style_numbers(human)}",
            "## Your task\nIn one to three sentences, tell the simulator the single biggest stylistic gap "
            "between its user turns and a real user's: length, casing and tone, specificity, how the "
            "information is spread over the turns, or assistant-like phrasing. Describe the style to aim "
            "for; never quote or paraphrase what the real user wrote.\n"
            'Answer with one JSON object: {"critiques": {"gteval": "<style gap>", "rnr": "<what sounds '
            'unhuman>"}, "reflection": "<one sentence>", "feedback": "<one to three sentences>"}.',
        ]
    )
    return [
        {
            "role": "system",
            "content": "You coach language models that simulate human users of chat assistants.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    """What feedback must not contain: any 8-word run of the reference user turns."""
    human = user_turns(reference_conversation(record.scenario, max_user_turns(record)))
    return Gold(reference=tuple(human), span=LEAK_SPAN)


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The MirrorBench feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="mirrorbench",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
