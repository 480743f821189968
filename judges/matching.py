"""Text matching rules shared by rule judges: normalization, exact and whole-phrase match with candidate
exclusion (ToMi), substring counting (UserLLM CSQA role adherence) and SQuAD token F1.

These are pure functions on strings so that every rule can be checked by hand in tests.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize_squad(text: str) -> str:
    """The official SQuAD normalization: lowercase, drop punctuation and articles, collapse spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def normalize_location(text: str) -> str:
    """ToMi normalization: ``_`` becomes a space, then the SQuAD rules (``biscuit_tin`` = ``biscuit tin``)."""
    return normalize_squad(text.replace("_", " "))


_LEADING_PREPOSITION = re.compile(r"^(in|on|at)\s+")


def exact_location_match(answer: str, gold: str) -> bool:
    """ToMi without candidates: equal after normalization and removing a leading "in/on/at"."""
    a = _LEADING_PREPOSITION.sub("", normalize_location(answer))
    g = _LEADING_PREPOSITION.sub("", normalize_location(gold))
    return bool(g) and a == g


def _phrase_spans(text: str, phrase: str) -> list[tuple[int, int]]:
    """Character spans of ``phrase`` in ``text`` (both normalized) on word boundaries."""
    if not phrase:
        return []
    return [(m.start(), m.end()) for m in re.finditer(rf"(?<!\S){re.escape(phrase)}(?!\S)", text)]


def contains_phrase(text: str, phrase: str) -> bool:
    """Whole-phrase match after ToMi normalization: "box" is in "the red box" but not in "boxes"."""
    return bool(_phrase_spans(normalize_location(text), normalize_location(phrase)))


def mentioned_candidates(answer: str, candidates: Sequence[str]) -> list[str]:
    """Candidates that the answer names as whole phrases.

    Longer candidates are matched first and their spans masked, so the candidate "box" is not counted
    as mentioned when the answer only says "red box" (another candidate).
    """
    text = normalize_location(answer)
    normalized = [(c, normalize_location(c)) for c in candidates]
    order = sorted(range(len(normalized)), key=lambda i: -len(normalized[i][1]))
    masked = list(text)
    found: set[int] = set()
    for i in order:
        phrase = normalized[i][1]
        spans = _phrase_spans("".join(masked), phrase)
        if spans:
            found.add(i)
            for start, end in spans:
                masked[start:end] = ["\0"] * (end - start)
    return [normalized[i][0] for i in sorted(found)]


def candidate_match(answer: str, gold: str, candidates: Sequence[str]) -> bool:
    """ToMi with candidates: 1 iff the gold occurs as a whole phrase and no other candidate does."""
    g = normalize_location(gold)
    named = {normalize_location(c) for c in mentioned_candidates(answer, [*candidates, gold])}
    return g in named and named == {g}


def _padded_alnum(text: str) -> str:
    return " " + " ".join(_NON_ALNUM.sub(" ", text.lower()).split()) + " "


def choices_present(text: str, choices: Sequence[str]) -> list[str]:
    """Choice texts found as substrings of ``text`` (lowercase, non-alphanumerics as spaces, padded)."""
    haystack = _padded_alnum(text)
    present = []
    for choice in choices:
        needle = _padded_alnum(choice)
        if needle.strip() and needle in haystack:
            present.append(choice)
    return present


def csqa_role_adherence(text: str, choices: Sequence[str]) -> tuple[float, list[str]]:
    """UserLLM CSQA: a user who names one or two choices answered instead of asking (0); naming none,
    or three or more (restating the question), stays in the user's role (1). Returns the score and the
    leaked choices."""
    if not choices:
        raise ValueError("CSQA role adherence needs answer choices")
    present = choices_present(text, choices)
    k = len(present)
    return (0.0 if k in (1, 2) else 1.0), present


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between normalized prediction and gold (1.0 when both are empty)."""
    pred_tokens = normalize_squad(prediction).split()
    gold_tokens = normalize_squad(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)
