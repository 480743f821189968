"""ToMi's rule judge (docs/tasks.md#tomi): the answer tag's location against the gold.

With candidates: 1 iff the gold is named as a whole phrase and no other candidate is, so an answer
listing several locations scores 0. Without: 1 iff the answer equals the gold once a leading
"in/on/at" is removed. Both sides are normalized first (lower case, ``_`` as a space, articles and
punctuation dropped). Drafts and refined rollouts use this one function.
"""

from __future__ import annotations

from judges.rules import LocationMatchJudge


def tomi_judge() -> LocationMatchJudge:
    return LocationMatchJudge(gold="correct_answer", candidates="cands")
