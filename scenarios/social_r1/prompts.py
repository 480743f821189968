"""Prompt text of the Social-R1 env (a paraphrase of the original's instructions)."""

from __future__ import annotations

SYSTEM = (
    "You are answering a multiple-choice question about social reasoning: what people know, want, feel "
    "or hide, and what they mean by what they say. Read the story, the question and the options. "
    "Think concisely, then end your reply with the answer tag holding exactly one option letter, "
    "for example <answer>A</answer>."
)
