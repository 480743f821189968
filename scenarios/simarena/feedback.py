"""SimulatorArena feedback (docs/tasks.md#simarena): one to three sentences on the biggest gap between the
simulated student or user and the real one.

The writer reads the task, the simulated conversation, the Likert judges' key differences, the "No Match"
analyses of the target features and a few numbers about the real human's messages (how many, how long,
casing, questions), never the real human's words. The leakage check (docs/judges.md#feedback) rejects
feedback that repeats any 8 consecutive words of the real human's messages, and (math) feedback that names
the problem's answer, so a refined rollout never sees reference text or the solution.
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
from scenarios.simarena.judge import human_messages, real_messages, render, roles_of, simulated_turns

DIMENSIONS = ("writing", "interaction", "fulfillment")
MAX_WORDS = 80
LEAK_SPAN = 8
PROMPT_VERSION = "simarena-feedback-v1"


def style_numbers(messages: Sequence[str]) -> str:
    """Message count, median words per message, share starting in lower case, share with a question."""
    return shared_style_numbers(messages, "message")


def verdicts(judgment: Judgment) -> str:
    lines = []
    for name, dim in (("writing", "writing_style"), ("interaction", "interaction_style")):
        if dim in judgment.dims:
            lines.append(f"- {name} style {judgment.dims[dim]:g}/5: {judgment.reasons.get(name, '')}")
    missed = [
        text for key, text in judgment.reasons.items() if key.startswith("match.") and ": No Match" in text
    ]
    if missed:
        lines.append("- target features not shown:\n" + "\n".join(f"  - {m}" for m in missed))
    return "\n".join(lines) or "(no judge reasoning)"


def feedback_prompt(record: EpisodeRecord, judgment: Judgment) -> list[dict[str, str]]:
    human, _ = roles_of(record)
    task = record.scenario.get("problem") or (
        f"{record.scenario.get('document_type', '')}: {record.scenario.get('intent', '')}"
    )
    user = "\n\n".join(
        [
            f"## The task of the simulated {human}\n{task}",
            f"## The {human}'s profile\n{record.scenario.get('user_profile_text', '') or '(none)'}",
            f"## The simulated conversation\n{render(simulated_turns(record))}",
            f"## The evaluation\n{verdicts(judgment)}",
            f"## The simulated {human}'s messages\n{style_numbers(human_messages(record))}",
            f"## The real {human}'s messages\n{style_numbers(real_messages(record))}",
            f"## Your task\nIn one to three sentences, tell the simulator the single biggest gap between its "
            f"{human} and the real one: message length, casing and punctuation, how much the {human} reveals "
            "or solves at once, how they acknowledge the other side, when they stop. Describe the style to "
            f"aim for; never quote or paraphrase what the real {human} wrote, and never give the solution.\n"
            'Answer with one JSON object: {"critiques": {"writing": "...", "interaction": "...", '
            '"fulfillment": "..."}, "reflection": "<one sentence>", "feedback": "<one to three sentences>"}.',
        ]
    )
    return [
        {
            "role": "system",
            "content": "You coach language models that simulate human users of AI assistants.",
        },
        {"role": "user", "content": user},
    ]


def gold_of(record: EpisodeRecord) -> Gold:
    """What feedback must not contain: any 8-word run of the real human's messages and (math) the
    problem's answer when the row has one."""
    answer = record.scenario.get("correct_answer")
    return Gold(
        texts=(str(answer),) if answer else (), reference=tuple(real_messages(record)), span=LEAK_SPAN
    )


def default_feedback_writer(
    model: JudgeModel = None, *, cache: JudgeCache | None = None, **kw: Any
) -> FeedbackWriter:
    """The SimulatorArena feedback writer (model: a policy or spec string; None: the local "tiny" model)."""
    return FeedbackWriter(
        model,
        task="simarena",
        dimensions=DIMENSIONS,
        prompt=feedback_prompt,
        gold=gold_of,
        max_words=MAX_WORDS,
        version=PROMPT_VERSION,
        cache=cache,
        **kw,
    )
