"""Decoding JSON that a model wrote (an action object, a tool call).

Tasks whose actions are JSON decode them here, so that they agree on what valid JSON is and on why a
text is not. Python's ``json`` module is the reference: what it accepts, the values it gives (key
order and ``int``/``float`` included) and the reason it gives when it refuses. Two things it accepts
are refused, each with its own reason, because an env must not take them in:

- a text nested too deeply (``json.loads`` raises ``RecursionError``, out of the env's ``step``);
- an escape that decodes to half of a surrogate pair (``"\\ud83d"`` alone): the string it gives is
  not Unicode text, and no store, tokenizer or hash can encode it.

Texts are decoded by pydantic-core's parser first, which gives the same values as ``json`` for every
text it accepts (``tests/test_json_text.py`` checks this on generated texts) and is about five times
faster; whatever it refuses goes to ``json``, whose answer stands. Decoding is most of the cost of a
step in the tasks whose every action is a JSON object (``benchmarks/env_overhead.py``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json

LONE_SURROGATE = "a string in it holds half of a surrogate pair (not Unicode text)"


class InvalidJSON(ValueError):
    """``text`` is not valid JSON; ``reason`` says why (``json``'s message, without the position)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_json(text: str) -> Any:
    """The value of the JSON document ``text`` (what ``json.loads`` gives), or ``InvalidJSON``."""
    try:
        return from_json(text)
    except (ValueError, TypeError):  # TypeError: a lone surrogate in the text, which it cannot encode
        pass  # json decides, and says why
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJSON(exc.msg) from None
    except RecursionError:
        raise InvalidJSON("nested too deeply") from None
    if holds_lone_surrogate(value):
        raise InvalidJSON(LONE_SURROGATE)
    return value


def lone_surrogate_at(text: str) -> int | None:
    """Where ``text`` stops being Unicode text (the index of half of a surrogate pair, which cannot be
    encoded as UTF-8), or None. A model's text gets there through a JSON escape (``"\\ud83d"``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def holds_lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in a decoded JSON ``value`` (keys included) is not Unicode text. For
    decoders other than ``decode_json`` (a judge's tolerant one)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if lone_surrogate_at(item) is not None:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
