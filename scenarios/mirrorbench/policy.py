"""The default policy of MirrorBench's ``assistant`` role (docs/tasks.md#mirrorbench): the reference
assistant turns, verbatim.

The env puts the reference reply of the current turn at the end of the assistant's turn prompt, after
``prompts.REPLY_MARKER``, a line that gives the reply's length; this policy sends the text after the last
marker line whose length matches what follows it. It needs no state and no row, so one instance serves any
number of episodes, through the runner (``osim run``) or ``AutoPlay``. A simulated user who writes a
marker line cannot change the reply (the env's line comes after the user's text and is found first), and a
reference reply that quotes the marker line is still sent whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from policies.base import ChatRequest, Completion, Policy, PolicyError, PolicySpec
from scenarios.mirrorbench.prompts import REPLY_MARKER

_MARKER = re.compile(re.escape(REPLY_MARKER).replace(re.escape("{n}"), r"(\d+)") + "\n")


def reference_reply(messages: Sequence[dict[str, object]]) -> str:
    """The reply after the last ``REPLY_MARKER`` line of the last (user) message whose stated length is
    the length of the text after it."""
    if not messages or messages[-1].get("role") != "user":
        raise PolicyError("no turn prompt with a reference reply: the last message is not a user message")
    content = str(messages[-1].get("content", ""))
    for match in reversed(list(_MARKER.finditer(content))):
        if int(match.group(1)) == len(content) - match.end():
            return content[match.end() :]
    raise PolicyError("no reference reply in the observation (is the env in assistant='replay' mode?)")


class ReferenceReplyPolicy(Policy):
    """Replays the reference assistant reply given in each observation, byte for byte."""

    strip_think = False  # send the reference text exactly as it is

    def __init__(self) -> None:
        super().__init__()
        self.spec = PolicySpec(backend="reference", model="mirrorbench-assistant")

    async def _complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        out = []
        for request in requests:
            text = reference_reply(request.messages)
            out.append(Completion(text=text, raw=text))
        return out
