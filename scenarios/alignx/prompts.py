"""Prompt text of the AlignX env (a paraphrase of the original's instructions and sections)."""

from __future__ import annotations

from scenarios.alignx.schema import AlignXRow

SYSTEM = (
    "Predict which of two responses this specific user would prefer. Use what is known about the user: "
    "the description and their earlier preferences and comments. Think briefly, then answer A or B "
    "inside the answer tag, for example <answer>A</answer>."
)


def user_sections(row: AlignXRow) -> list[str]:
    """The user signals the row carries: description, the first ``n_icl`` complete earlier pairs, the
    first ``n_ugc`` complete earlier comments. Empty signals are left out."""
    sections = []
    about = row.demographic.strip() or row.profile.strip()
    if about:
        sections.append(f"## About this user\n{about}")
    pairs = [p for p in row.icl_pairs if p.complete][: row.n_icl]
    if pairs:
        shown = "\n\n".join(
            f"Example {i}\nPost: {p.prompt}\nPreferred: {p.chosen}\nOver: {p.rejected}"
            for i, p in enumerate(pairs, start=1)
        )
        sections.append(f"## Prior preference examples\n{shown}")
    comments = [c for c in row.ugc if c.complete][: row.n_ugc]
    if comments:
        shown = "\n\n".join(
            f"Comment {i}\nPost: {c.prompt}\nTheir comment: {c.comment}"
            for i, c in enumerate(comments, start=1)
        )
        sections.append(f"## Prior comments by this user\n{shown}")
    return sections


def question_prompt(row: AlignXRow, response_a: str, response_b: str) -> str:
    return "\n\n".join(
        [
            *user_sections(row),
            f"## Post\n{row.raw_prompt}",
            f"## Response A\n{response_a}",
            f"## Response B\n{response_b}",
            "Which response would this user prefer? Answer A or B inside the answer tag.",
        ]
    )
