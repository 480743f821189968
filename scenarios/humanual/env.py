"""``soul/humanual-{book,chat,email,news,opinion,politics}-v0``: write one real person's reply
(docs/tasks.md#humanual).

One env class, ``HumanualEnv``, with a ``domain`` option; each registered id is that class with its
domain fixed (``book_env``, ``chat_env``, ...). One role, one turn: the user (HUMAN) reads its persona
and the context and writes its reply inside ``<response>`` tags. The reply is scored against the reply
the person really wrote, which the policy never sees. A domain's env uses the fixture rows of its domain
and rejects rows of another domain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from osim_env.data import Scenario
from osim_env.env import Emit, Invalid, Parsed, TextEnv
from osim_env.events import Event
from osim_env.factories import env_factories
from osim_env.scheduling import Alternation, Scheduler
from scenarios.humanual.judge import SCORINGS, default_judge
from scenarios.humanual.prompts import system_prompt, user_prompt
from scenarios.humanual.schema import DOMAINS, HumanualRow, accepted_sources, data_source_of

DEFAULT_DOMAIN = "chat"
_RESPONSE = re.compile(r"<response>(.*?)</response>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>")  # <b>, </p>, <br/>, <a href=...>


def env_id_of(domain: str) -> str:
    return f"soul/humanual-{domain}-v0"


def read_reply(text: str, *, strict: bool) -> tuple[str, bool] | Invalid:
    """(reply, format_lenient): the content of the last complete ``<response>`` block; without one, the
    whole text when it has no ``<...>`` tag at all (flagged lenient; invalid with ``strict``)."""
    blocks = _RESPONSE.findall(text)
    if blocks:
        reply, lenient = blocks[-1].strip(), False
    elif strict or _TAG.search(text):
        return Invalid("no <response> block")
    else:
        reply, lenient = text.strip(), True
    return Invalid("empty reply") if not reply else (reply, lenient)


class HumanualEnv(TextEnv):
    env_id: ClassVar[str] = env_id_of(DEFAULT_DOMAIN)
    roles: ClassVar[tuple[str, ...]] = ("user",)
    row_model = HumanualRow
    default_max_turns: ClassVar[int] = 1

    def __init__(self, scenario: Any = None, *, domain: str = DEFAULT_DOMAIN, **kwargs: Any) -> None:
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {list(DOMAINS)}, got {domain!r}")
        # Per instance: the id, the accepted data_source values and PettingZoo's name follow the domain.
        self.domain = domain
        self.env_id = env_id_of(domain)
        self.data_source = data_source_of(domain)
        self.data_source_aliases = accepted_sources(domain)[1:]
        self.metadata = {**self.metadata, "name": f"humanual_{domain}_v0"}
        super().__init__(scenario, domain=domain, **kwargs)

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "domain": DEFAULT_DOMAIN,
            "render_roles": True,  # False: the original's bare concatenation of the context
            "max_context_words": 2000,  # None: never cut the context
            "strict_format": False,  # True: a reply without a <response> block is invalid
            "scoring": "alignment",  # or "dims6", the original's draft reward
            "judge_model": None,  # policy spec of the judge (None: the local "tiny" model)
        }
        unknown = set(options) - set(defaults)
        if unknown:
            raise TypeError(f"{self.env_id} got unknown options {sorted(unknown)}; known: {sorted(defaults)}")
        options = {**defaults, **options}
        words = options["max_context_words"]
        if words is not None and (isinstance(words, bool) or not isinstance(words, int) or words < 1):
            raise ValueError(f"max_context_words must be a positive integer or None, got {words!r}")
        if options["scoring"] not in SCORINGS:
            raise ValueError(f"scoring must be one of {SCORINGS}, got {options['scoring']!r}")
        for name in ("render_roles", "strict_format"):
            if not isinstance(options[name], bool):
                raise ValueError(f"{name} must be true or false, got {options[name]!r}")
        return options

    def make_scheduler(self) -> Scheduler:
        return Alternation(self.roles)

    def system_prompt(self, agent: str) -> str:
        return system_prompt(self.row)

    def preamble(self, agent: str) -> Sequence[tuple[str, str]]:
        text = user_prompt(
            self.row,
            self.domain,
            render_roles=self.options["render_roles"],
            max_words=self.options["max_context_words"],
        )
        return [("user", text)]

    def parse_action(self, agent: str, text: str, thinking: str) -> Parsed:
        parsed = read_reply(text, strict=self.options["strict_format"])
        if isinstance(parsed, Invalid):
            return parsed
        reply, lenient = parsed
        return [Emit("message", {"text": reply, "format_lenient": lenient})]

    def render_event(self, agent: str, event: Event) -> tuple[str, str] | None:
        if event.source == agent and event.kind in ("message", "invalid_action"):
            return "assistant", str(event.payload.get("raw", event.text))
        return None

    def end_reason(self, agent: str, emitted: Sequence[Event]) -> str | None:
        return "replied" if emitted[-1].kind == "message" else "invalid reply"

    def default_judge(self) -> Any:
        return default_judge(self.options["judge_model"], scoring=self.options["scoring"])

    # -- rows of this env's domain ------------------------------------------------------------------
    def plays(self, scenario: Scenario) -> bool:
        return scenario.row.domain in (None, self.domain)


def _with_domain(domain: str) -> Callable[..., HumanualEnv]:
    """``HumanualEnv`` with its domain fixed (the constructor behind one registered id)."""

    def make(scenario: Any = None, **kwargs: Any) -> HumanualEnv:
        if kwargs.setdefault("domain", domain) != domain:
            raise ValueError(f"{env_id_of(domain)} is the {domain!r} domain, got domain={kwargs['domain']!r}")
        return HumanualEnv(scenario, **kwargs)

    make.__name__ = f"HumanualEnv(domain={domain!r})"
    return make


env, raw_env, parallel_env = env_factories(HumanualEnv)
book_env, book_raw_env, book_parallel_env = env_factories(_with_domain("book"))
chat_env, chat_raw_env, chat_parallel_env = env_factories(_with_domain("chat"))
email_env, email_raw_env, email_parallel_env = env_factories(_with_domain("email"))
news_env, news_raw_env, news_parallel_env = env_factories(_with_domain("news"))
opinion_env, opinion_raw_env, opinion_parallel_env = env_factories(_with_domain("opinion"))
politics_env, politics_raw_env, politics_parallel_env = env_factories(_with_domain("politics"))
