"""LifeChoices' rule judge: 1 iff the extracted letter is the gold letter (docs/tasks.md#lifechoices).

The gold letter is the first character of the row's "Correct Answer", derived when the row is loaded.
"""

from __future__ import annotations

from judges.rules import MCQJudge
from scenarios.lifechoices.schema import N_OPTIONS


def lifechoices_judge() -> MCQJudge:
    return MCQJudge(gold="gold", n_options=N_OPTIONS)
