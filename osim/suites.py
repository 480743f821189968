"""Which tasks a suite holds and how the leaderboard groups them (README "Sweeps and the leaderboard").

``soul`` is every registered ``soul/`` task; ``soul-index`` the 23 tasks of the SOUL-Index (the ten of
the Ditto paper's Table 3 and the thirteen SOUL-Index tasks of docs/tasks.md, AlignX one task, HUMANUAL
six); ``soul-paper`` the ten. The five categories are the SOUL-Index's axes; tau-user's USI is reported
apart from every average.
"""

from __future__ import annotations

SOTOPIA = "soul/sotopia-v0"
# The ten tasks of the paper's Table 3, in its order; the SOUL average is their unweighted mean.
PAPER_TASKS: tuple[str, ...] = (
    "soul/fantom-v0",
    "soul/hitom-v0",
    "soul/tomi-v0",
    "soul/coser-v0",
    "soul/lifechoices-v0",
    SOTOPIA,
    "soul/mistakes-v0",
    "soul/mirrorbench-v0",
    "soul/userllm-v0",
    "soul/twinvoice-v0",
)
# The SOUL-Index categories and their member tasks; the index is the unweighted mean of all 23 tasks,
# a category mean the unweighted mean of its members.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "conversation": (
        "soul/userllm-v0",
        "soul/mirrorbench-v0",
        "soul/humanual-chat-v0",
        "soul/simarena-doc-v0",
    ),
    "social_skill": (SOTOPIA,),
    "cognition": ("soul/fantom-v0", "soul/hitom-v0", "soul/tomi-v0", "soul/social-r1-v0"),
    "role_play": (
        "soul/coser-v0",
        "soul/lifechoices-v0",
        "soul/twinvoice-v0",
        "soul/behaviorchain-v0",
        "soul/simarena-math-v0",
        "soul/mistakes-v0",
        "soul/humanual-email-v0",
        "soul/humanual-news-v0",
        "soul/humanual-politics-v0",
    ),
    "evaluation": (
        "soul/alignx-v0",
        "soul/humanllm-v0",
        "soul/socsci210-v0",
        "soul/humanual-book-v0",
        "soul/humanual-opinion-v0",
    ),
}
SOUL_INDEX_TASKS: tuple[str, ...] = tuple(t for members in CATEGORIES.values() for t in members)
SUITES: dict[str, tuple[str, ...] | None] = {
    "soul": None,  # every registered soul/ task
    "soul-index": SOUL_INDEX_TASKS,
    "soul-paper": PAPER_TASKS,
}
