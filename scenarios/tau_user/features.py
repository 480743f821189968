"""Human-likeness features of a simulated user's turns, grouped as in the USI paper
(docs/tasks.md#tau-user-features), and the Dice similarity that compares them with human values.

Every feature is a plain count over the user's messages with the stop markers removed (a message that
is only a marker is not a turn). "Rate" features are the share of turns with at least one match of a
lexicon (``data/lexicons.json``); words are whitespace-separated tokens. The definitions are simple on
purpose: a researcher can compute them by hand on a transcript, and the tests do.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from judges.detectors import AssistantRegister

STOP_MARKERS = ("###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###")
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "style": (
        "politeness_rate",
        "short_msg_rate",
        "dash_rate",
        "ack_only_rate",
        "words_cv",
        "repetition_rate",
        "agent_register_rate",
    ),
    "information": ("info_frontload", "id_density", "words_per_turn", "opening_length"),
    "clarification": (
        "uncertainty_rate",
        "certainty_rate",
        "pushback_rate",
        "clarification_rate",
        "info_question_rate",
    ),
    "error_reaction": ("emotion_rate", "accusation_rate", "pivot_rate"),
}
FEATURES: tuple[str, ...] = tuple(f for group in FEATURE_GROUPS.values() for f in group)
SHORT_WORDS = 3
REPEAT_JACCARD = 0.9
DASH = re.compile(r"\s[-–—]\s|[–—]|--")
ID_PUNCTUATION = ".,;:!?()[]\"'“”‘’"
LEXICON_FILE = Path(__file__).parent / "data" / "lexicons.json"
_WORDS = re.compile(r"\w+")
_REGISTER = AssistantRegister()


def _phrase_pattern(phrase: str) -> str:
    stem = phrase[:-1] if phrase.endswith("*") else phrase
    start = r"(?<!\w)" if stem[:1].isalnum() else ""
    end = r"\w*" if phrase.endswith("*") else r"(?!\w)" if stem[-1:].isalnum() else ""
    return start + re.escape(stem) + end


@cache
def lexicons() -> dict[str, re.Pattern[str]]:
    """One case-insensitive pattern per lexicon of ``data/lexicons.json``."""
    data = json.loads(LEXICON_FILE.read_text(encoding="utf-8"))
    return {
        name: re.compile("|".join(_phrase_pattern(p) for p in phrases), re.IGNORECASE)
        for name, phrases in data.items()
        if not name.startswith("_")
    }


def strip_markers(text: str) -> str:
    for marker in STOP_MARKERS:
        text = text.replace(marker, " ")
    return text.strip()


def clean_turns(messages: Sequence[str]) -> list[str]:
    """The user's turns for the features: stop markers removed, marker-only messages dropped, curly
    apostrophes made straight."""
    turns = [strip_markers(m).replace("’", "'") for m in messages]
    return [t for t in turns if t]


def is_id_like(token: str) -> bool:
    """An order number, a date, a code or an email: 4+ characters with a digit, or an ``@`` address."""
    token = token.strip(ID_PUNCTUATION)
    return ("@" in token and "." in token) or (len(token) >= 4 and any(c.isdigit() for c in token))


def is_ack_only(turn: str) -> bool:
    """Nothing but acknowledgements ("ok thanks!", "got it"): no word is left once they are removed."""
    rest = lexicons()["acknowledgement"].sub(" ", turn)
    return not _WORDS.search(rest)


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def _jaccard(a: str, b: str) -> float:
    x, y = set(_WORDS.findall(a.lower())), set(_WORDS.findall(b.lower()))
    return len(x & y) / len(x | y) if x | y else 0.0


def features(messages: Sequence[str]) -> dict[str, float]:
    """Every feature of ``FEATURES`` for one episode's user messages (all 0.0 without a turn)."""
    turns = clean_turns(messages)
    if not turns:
        return dict.fromkeys(FEATURES, 0.0)
    lex = lexicons()

    def rate(name: str) -> float:
        return _share([bool(lex[name].search(t)) for t in turns])

    words = [t.split() for t in turns]
    counts = [len(w) for w in words]
    total = sum(counts)
    mean = total / len(turns)
    clarifying = [bool(lex["clarification"].search(t)) for t in turns]
    pairs = list(itertools.pairwise(turns))
    return {
        "politeness_rate": rate("politeness"),
        "short_msg_rate": _share([n <= SHORT_WORDS for n in counts]),
        "dash_rate": _share([bool(DASH.search(t)) for t in turns]),
        "ack_only_rate": _share([is_ack_only(t) for t in turns]),
        "words_cv": statistics.pstdev(counts) / mean if len(turns) > 1 and mean else 0.0,
        "repetition_rate": _share([_jaccard(a, b) >= REPEAT_JACCARD for a, b in pairs]),
        "agent_register_rate": _share([bool(_REGISTER.evidence([t])) for t in turns]),
        "info_frontload": sum(counts[:2]) / total if total else 0.0,
        "id_density": sum(is_id_like(w) for ws in words for w in ws) / total if total else 0.0,
        "words_per_turn": mean,
        "opening_length": float(counts[0]),
        "uncertainty_rate": rate("uncertainty"),
        "certainty_rate": rate("certainty"),
        "pushback_rate": rate("pushback"),
        "clarification_rate": _share(clarifying),
        "info_question_rate": _share(["?" in t and not c for t, c in zip(turns, clarifying, strict=True)]),
        "emotion_rate": rate("emotion"),
        "accusation_rate": rate("accusation"),
        "pivot_rate": rate("pivot"),
    }


def dice(human: float, model: float) -> float:
    """2·min(|h|,|m|)/(|h|+|m|): 1 when equal, 0 when one is 0 and the other not (1 when both are 0)."""
    h, m = abs(human), abs(model)
    return 1.0 if h + m == 0 else 2 * min(h, m) / (h + m)


def human_likeness(values: Mapping[str, float], targets: Mapping[str, float]) -> float:
    """The mean Dice similarity over the targeted features."""
    if not targets:
        raise ValueError("human_likeness needs at least one target")
    return statistics.fmean(dice(h, values[name]) for name, h in targets.items())


def group_of(feature: str) -> str:
    for group, names in FEATURE_GROUPS.items():
        if feature in names:
            return group
    raise KeyError(feature)
