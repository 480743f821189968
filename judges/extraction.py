"""Answer extraction for every tag-based and MCQ task (docs/judges.md#extraction).

One strict rule everywhere: the last ``<answer>…</answer>`` block, or for MCQ a final line that is
clearly just a letter. There is never a fallback to "the first A–D character anywhere".
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

LETTERS = string.ascii_uppercase

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
# A letter, optionally wrapped in (), **, or followed by "." or ")".
_LETTER = r"(?:\*\*)?\(?(?P<letter>[A-Za-z])(?:\)|\.)?(?:\*\*)?\.?"
_LETTER_ONLY = re.compile(rf"^\s*{_LETTER}\s*$")
_FINAL_LINE = re.compile(
    rf"^\s*(?:\*\*)?(?:(?:final\s+answer|answer)\s*(?:\*\*)?\s*(?::|is)\s*(?:\*\*)?\s*)?{_LETTER}\s*$",
    re.IGNORECASE,
)
_SEVERAL_LETTERS = re.compile(
    r"^\s*\(?[A-Za-z]\)?\s*(?:[,/&]|\band\b|\bor\b|\s)\s*\(?[A-Za-z]\)?", re.IGNORECASE
)


@dataclass(frozen=True)
class Extraction:
    """The extracted answer (a letter for MCQ, text otherwise) or the reason there is none."""

    answer: str | None
    reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.answer is not None


def _tag_content(text: str) -> str | None:
    matches = _ANSWER_TAG.findall(text)
    return matches[-1].strip() if matches else None


def extract_answer(text: str, n_options: int | None = None) -> Extraction:
    """Extract the answer from a model output.

    With ``n_options`` (MCQ) the answer is an upper-case letter within the first ``n_options``
    letters; otherwise it is the stripped content of the last answer tag.
    """
    content = _tag_content(text)
    if n_options is None:
        if content is None or not content:
            return Extraction(None, "no answer found")
        return Extraction(content)
    if content is None:
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            return Extraction(None, "no answer found")
        m = _FINAL_LINE.match(lines[-1])
        if not m:
            return Extraction(None, "no answer found")
        letter = m.group("letter").upper()
    else:
        m = _LETTER_ONLY.match(content) or _FINAL_LINE.match(content)
        if not m:
            if _SEVERAL_LETTERS.match(content):
                return Extraction(None, "more than one letter")
            return Extraction(None, "no answer found")
        letter = m.group("letter").upper()
    if LETTERS.index(letter) >= n_options:
        return Extraction(None, "letter out of range")
    return Extraction(letter)


def parse_options(options: str | list[str]) -> list[str]:
    """Option texts from a structured list, or from ``"A. x, B. y, …"`` split only at letter markers
    that occur in sequence (so commas inside an option survive)."""
    if isinstance(options, list):
        return [str(o).strip() for o in options]
    text = options.strip()
    m = re.match(r"^\(?A[.)]\s*", text)
    if not m:
        raise ValueError("options must start with 'A.'")
    starts = [(0, m.end())]
    pos = m.end()
    for letter in LETTERS[1:]:
        marker = re.compile(rf",\s*\(?{letter}[.)]\s+")
        found = marker.search(text, pos)
        if not found:
            break
        starts.append((found.start(), found.end()))
        pos = found.end()
    parts = []
    for i, (_, content_start) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        parts.append(text[content_start:end].strip())
    if any(not p for p in parts):
        raise ValueError("an option is empty")
    return parts


def gold_letter(options: list[str], correct_text: str) -> str:
    """The letter of the option whose text is exactly ``correct_text`` (exactly one must match)."""
    hits = [i for i, o in enumerate(options) if o.strip() == correct_text.strip()]
    if len(hits) != 1:
        raise ValueError(
            f"correct answer {correct_text!r} matches {len(hits)} options (need exactly one) in {options!r}"
        )
    return LETTERS[hits[0]]
