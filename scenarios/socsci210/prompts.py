"""Prompt text of the SocSci210 env (docs/tasks.md#socsci210).

The row's ``prompt_text`` is shown as the data has it, after two documented rewrites that let the
model reason before answering: "Only return" becomes "Think step by step, and answer", and
", nothing else" (with an optional period) becomes "." (``rewrite_prompt=False`` turns them off).
"""

from __future__ import annotations

import re

from scenarios.socsci210.schema import SocSci210Row

SYSTEM_PROMPT = """You predict how one specific survey respondent answered a question in a social-science \
experiment.
Read the respondent's description, what they were shown and the question.
Reason in one or two sentences about how this person's demographics and ideology shape their answer.
Then give their answer inside the answer tag: <answer>N</answer> with N a whole number on the question's \
scale, or <answer>yes</answer> / <answer>no</answer> for a yes-or-no question."""

_ONLY_RETURN = re.compile(r"Only return")
_NOTHING_ELSE = re.compile(r",\s*nothing else\.?")


def rewrite(prompt_text: str) -> str:
    """The two rewrites of docs/tasks.md#socsci210 (both, wherever they occur)."""
    text = _ONLY_RETURN.sub("Think step by step, and answer", prompt_text)
    return _NOTHING_ELSE.sub(".", text)


def question_prompt(row: SocSci210Row, rewrite_prompt: bool = True) -> str:
    return rewrite(row.prompt_text) if rewrite_prompt else row.prompt_text
