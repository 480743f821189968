"""Text spaces for chat environments.

Gymnasium's ``Text`` needs an explicit charset (all of Unicode is impractical) and PettingZoo's
``api_test`` crashes on a bare ``Text`` observation or on text under the ``"observation"`` key, so
osim uses a bounded any-Unicode text space and a ``Dict`` observation whose chat sits under
``"messages"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

# Code point ranges sampled by ``UnicodeText.sample``: ASCII, Latin-1, Greek, Cyrillic, Hebrew and
# Arabic (RTL), CJK, emoji. Surrogates are never produced.
_SAMPLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x20, 0x7E),
    (0xA0, 0xFF),
    (0x370, 0x3FF),
    (0x400, 0x4FF),
    (0x5D0, 0x5EA),
    (0x620, 0x64A),
    (0x4E00, 0x4FFF),
    (0x1F600, 0x1F64F),
)

CHAT_ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


class UnicodeText(spaces.Space[str]):
    """Any ``str`` of ``min_length..max_length`` code points."""

    def __init__(
        self, max_length: int, *, min_length: int = 0, seed: int | np.random.Generator | None = None
    ):
        if not 0 <= min_length <= max_length:
            raise ValueError(f"need 0 <= min_length <= max_length, got {min_length}, {max_length}")
        self.min_length = int(min_length)
        self.max_length = int(max_length)
        super().__init__(dtype=str, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is not None or probability is not None:
            raise ValueError("UnicodeText.sample takes no mask")
        rng = self.np_random
        hi = min(self.max_length, max(self.min_length, 64))
        length = int(rng.integers(self.min_length, hi + 1))
        which = rng.integers(0, len(_SAMPLE_RANGES), size=length)
        chars = [chr(int(rng.integers(lo, up + 1))) for lo, up in (_SAMPLE_RANGES[w] for w in which)]
        return "".join(chars)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, UnicodeText)
            and other.min_length == self.min_length
            and other.max_length == self.max_length
        )

    def __hash__(self) -> int:
        return hash((UnicodeText, self.min_length, self.max_length))


class ChatMessages(spaces.Space[list]):
    """A list of OpenAI-format chat messages ``{"role": ..., "content": ...}``."""

    def __init__(
        self,
        max_messages: int,
        max_content_length: int,
        roles: Sequence[str] = CHAT_ROLES,
        seed: int | np.random.Generator | None = None,
    ):
        self.max_messages = int(max_messages)
        self.roles = tuple(roles)
        self.content = UnicodeText(max_content_length)
        super().__init__(dtype=object, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def seed(self, seed: int | None = None) -> list[int]:
        seeds = super().seed(seed)
        self.content.seed(int(self.np_random.integers(2**31)))
        return seeds

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, str]]:
        n = int(self.np_random.integers(1, min(self.max_messages, 8) + 1))
        return [
            {
                "role": self.roles[int(self.np_random.integers(len(self.roles)))],
                "content": self.content.sample(),
            }
            for _ in range(n)
        ]

    def contains(self, x: Any) -> bool:
        if not isinstance(x, (list, tuple)) or len(x) > self.max_messages:
            return False
        for m in x:
            if not isinstance(m, dict) or set(m) != {"role", "content"}:
                return False
            if m["role"] not in self.roles or not self.content.contains(m["content"]):
                return False
        return True

    def __repr__(self) -> str:
        return f"ChatMessages(max_messages={self.max_messages}, max_content={self.content.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ChatMessages)
            and other.max_messages == self.max_messages
            and other.roles == self.roles
            and other.content == self.content
        )

    def __hash__(self) -> int:
        return hash((ChatMessages, self.max_messages, self.roles, self.content.max_length))


def action_space(max_length: int) -> UnicodeText:
    """A fresh action space: an action is any string of bounded length.

    Envs keep one instance per agent (seeding a space must not affect another agent or env).
    """
    return UnicodeText(max_length)


def observation_space(
    agent_names: tuple[str, ...], max_messages: int, max_content_length: int
) -> spaces.Dict:
    """A fresh ``Dict`` observation space: ``messages`` (the chat), ``agent``, ``turn``.

    Envs keep one instance per agent (PettingZoo requires ``observation_space(a) is
    observation_space(a)``) so seeding a space is per agent.
    """
    del agent_names
    return spaces.Dict(
        {
            "messages": ChatMessages(max_messages, max_content_length),
            "agent": UnicodeText(256),
            "turn": spaces.Discrete(1_000_000),
        }
    )
