"""BehaviorChain's rule judge and the source paper's chain metrics (docs/tasks.md#behaviorchain)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from judges.rules import MCQJudge


def behaviorchain_judge() -> MCQJudge:
    """1 iff the extracted letter (the last answer tag, thinking removed) is ``right_option_letter``."""
    return MCQJudge(gold="right_option_letter", n_options=4)


def chain_metrics(nodes: Iterable[tuple[str, int, bool]]) -> dict[str, float]:
    """Per-persona chain metrics of the BehaviorChain paper, macro-averaged over personas, from
    ``(persona_id, step, correct)`` per judged node: node accuracy, normalized consecutive accuracy
    ``sum_t c_t / (n(n+1)/2)`` (``c_t``: the run of correct answers ending at node t) and max-chain
    accuracy ``longest run / n``."""
    chains: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for persona, step, correct in nodes:
        chains[persona].append((step, correct))
    if not chains:
        raise ValueError("chain_metrics needs at least one judged node")
    per_persona = []
    for steps in chains.values():
        ordered = [correct for _, correct in sorted(steps)]
        n = len(ordered)
        run, longest, consecutive = 0, 0, 0
        for correct in ordered:
            run = run + 1 if correct else 0
            longest = max(longest, run)
            consecutive += run
        per_persona.append((sum(ordered) / n, consecutive / (n * (n + 1) / 2), longest / n))
    k = len(per_persona)
    return {
        "accuracy": sum(p[0] for p in per_persona) / k,
        "consecutive_accuracy": sum(p[1] for p in per_persona) / k,
        "max_chain_accuracy": sum(p[2] for p in per_persona) / k,
        "personas": float(k),
    }
