"""A person at the terminal plays a role: the chat is printed, the reply is typed.

Useful to try a scenario by hand, to collect human turns, or to sanity-check what a role sees.
Only the messages the person has not seen yet are printed on each turn.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from policies.base import ChatRequest, Completion, Policy, PolicyError, PolicySpec

PROMPT = "your turn> "


class HumanPolicy(Policy):
    """Reads each action as one line from ``input`` (default: stdin) after printing the chat."""

    def __init__(
        self, *, input: TextIO | None = None, output: TextIO | None = None, name: str = "human"
    ) -> None:
        super().__init__()
        self.input = input
        self.output = output
        self.strip_think = False  # a person's text is taken as typed
        self._shown: list[dict[str, Any]] = []
        self.spec = PolicySpec(backend="human", model=name)

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        # One question at a time; reading blocks, so it runs off the event loop.
        return [await asyncio.to_thread(self._ask, r) for r in requests]

    def _ask(self, request: ChatRequest) -> Completion:
        out = self.output or sys.stdout
        inp = self.input or sys.stdin
        messages = request.messages
        common = 0
        while common < min(len(messages), len(self._shown)) and messages[common] == self._shown[common]:
            common += 1
        for message in messages[common:]:
            out.write(f"\n[{message.get('role', '?')}]\n{message.get('content', '')}\n")
        self._shown = list(messages)
        while True:
            out.write(PROMPT)
            out.flush()
            line = inp.readline()
            if line == "":
                raise PolicyError("no input: the terminal closed (end of file)", spec=self.spec.model_dump())
            text = line.rstrip("\r\n")
            if text.strip():
                return Completion(text=text, raw=text, completion_tokens=None)
            out.write("(empty; type your turn and press Enter)\n")
