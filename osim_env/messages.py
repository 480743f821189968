"""Read-only chat messages.

Observations share message objects with the env's incremental render cache (copying every message
on every step was a large part of the step cost). A message is a real ``dict`` (JSON, the OpenAI
client and chat templates accept it) that refuses in-place edits, so a caller cannot corrupt later
observations by accident: ``dict(message)`` gives an editable copy.
"""

from __future__ import annotations

from typing import Any, NoReturn


class Message(dict):
    """``{"role": ..., "content": ...}`` that cannot be modified in place."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("observation messages are read-only; use dict(message) for an editable copy")

    __setitem__ = __delitem__ = __ior__ = _read_only  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Message, (dict(self),))


def message(role: str, content: str) -> Message:
    return Message(role=role, content=content)
