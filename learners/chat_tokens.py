"""Conversations as token ids with labels on the target turns only.

TRL's ``assistant_only_loss`` needs a chat template with ``{% generation %}`` markers, which most
templates (and osim's tiny model) lack, and it can only mark assistant turns of the template's own
rendering. Here the mask comes from the template itself: a target message ``i`` spans the characters
between ``render(messages[:i], add_generation_prompt=True)`` (its role header) and
``render(messages[:i+1])`` (its content and end-of-turn token), and a token is a target when it starts
inside such a span (fast tokenizers' offset mapping). Every target turn of a multi-turn conversation is
in the loss, not only the last; everything else is labelled ``-100``. The template must render a
conversation's prefix as a prefix of the whole (ChatML and Llama templates do); one that does not
raises ``ValueError`` instead of mislabelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IGNORE_INDEX = -100


def _render(tokenizer: Any, messages: Sequence[dict[str, str]], *, generation_prompt: bool = False) -> str:
    if not messages:
        return ""
    return str(
        tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)
    )


def target_spans(
    tokenizer: Any, messages: Sequence[dict[str, str]], targets: Sequence[bool]
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans ``[start, end)`` of its target turns."""
    text = _render(tokenizer, messages)
    spans = []
    for i, is_target in enumerate(targets):
        if not is_target:
            continue
        header = _render(tokenizer, messages[:i], generation_prompt=messages[i]["role"] == "assistant")
        upto = _render(tokenizer, messages[: i + 1])
        if not text.startswith(upto) or not upto.startswith(header):
            raise ValueError(
                "the chat template does not render a conversation's prefix as a prefix of it; "
                "per-turn loss masks need a prefix-preserving template (e.g. ChatML)"
            )
        end = len(upto.rstrip())
        spans.append((len(header), end))
    return text, spans


def tokenize_conversation(
    tokenizer: Any, messages: Sequence[dict[str, str]], targets: Sequence[bool]
) -> dict[str, list[int]]:
    """``input_ids`` and ``labels`` (the ids on target turns, ``-100`` elsewhere)."""
    text, spans = target_spans(tokenizer, messages, targets)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(encoded["input_ids"])
    labels = [IGNORE_INDEX] * len(ids)
    k = 0
    for t, (start, _end) in enumerate(encoded["offset_mapping"]):
        while k < len(spans) and start >= spans[k][1]:
            k += 1
        if k < len(spans) and spans[k][0] <= start < spans[k][1]:
            labels[t] = ids[t]
    return {"input_ids": ids, "labels": labels}
