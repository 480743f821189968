"""Decoding JSON that a model wrote (an action object, a tool call).

Tasks whose actions are JSON decode them here, so that they agree on what valid JSON is and on why a
text is not. Python's ``json`` module is the reference: what it accepts, the values it gives (key
order and ``int``/``float`` included) and the reason it gives when it refuses. Two things differ:

- A text nested too deeply is refused with the reason ``nested too deeply``; ``json.loads`` would
  raise ``RecursionError`` out of the env's ``step``.
- Texts are decoded by pydantic-core's parser first, which gives the same values as ``json`` for
  every text it accepts (``tests/test_json_text.py`` checks this on generated texts) and is about
  five times faster; whatever it refuses (invalid JSON, lone surrogates, deep nesting) goes to
  ``json``, whose answer stands. Decoding is most of the cost of a step in the tasks whose every
  action is a JSON object (``benchmarks/env_overhead.py``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json


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
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJSON(exc.msg) from None
    except RecursionError:
        raise InvalidJSON("nested too deeply") from None
