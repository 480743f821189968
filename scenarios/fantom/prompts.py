"""Prompt text of the FanToM env (docs/tasks.md#fantom): the conversation, the question and how to answer."""

from __future__ import annotations

from scenarios.fantom.schema import FanToMRow

INTRO = (
    "Read the conversation and answer the question about it. People join and leave the conversation: "
    "a character knows only what was said while they were present, or what someone told them later."
)

ANSWER_FORMAT = {
    "multiple_choice": "give the letter of your choice inside the answer tag, for example "
    "<answer>a</answer>.",
    "list": "give the names, separated by commas, inside the answer tag, for example "
    "<answer>Name1, Name2</answer>.",
    "binary": "answer yes or no inside the answer tag: <answer>yes</answer> or <answer>no</answer>.",
    "fact": "give a short answer inside the answer tag, for example <answer>short answer</answer>.",
}


def question_prompt(row: FanToMRow) -> str:
    extra = f"## Extra Information\n{row.extra_info.strip()}\n\n" if row.extra_info.strip() else ""
    return (
        f"{INTRO}\n\n## Context\n{row.context}\n\n{extra}## Question\n{row.complete_question}\n\n"
        f"Think step by step, then {ANSWER_FORMAT[row.family]}"
    )
