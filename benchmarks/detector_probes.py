"""Precision and recall of the rule detectors on the written probe sets; prints one JSON object.

``judges_probe_set.jsonl`` and ``judges_probe_heldout_round1.jsonl`` were used while writing the
patterns; ``judges_probe_heldout.jsonl`` was written after the patterns were final and is the honest
figure for unseen text. Tests guard against regressions; the target (recall >= 0.9 on
judge-directed text) is measured here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from judges.detectors import AssistantRegister, JudgeAddress, Length, Repetition, ThinkLeak

TESTS = Path(__file__).resolve().parents[1] / "tests"
SETS = {
    "tuned": "judges_probe_set.jsonl",
    "heldout_round1_then_tuned": "judges_probe_heldout_round1.jsonl",
    "heldout": "judges_probe_heldout.jsonl",
}
DETECTORS = {
    "judge_address": JudgeAddress(),
    "assistant_register": AssistantRegister(),
    "repetition": Repetition(),
    "think_leak": ThinkLeak(),
}


def flagged(probe: dict) -> bool:
    if probe["detector"] == "length":
        length = Length(**probe.get("params", {}))
        return length.detect_turns(probe["turns"], probe.get("reference_turns", [])).flagged
    return DETECTORS[probe["detector"]].detect_turns(probe["turns"]).flagged


def scores(path: Path) -> dict[str, dict[str, float]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "n": 0})
    for line in path.read_text(encoding="utf-8").splitlines():
        probe = json.loads(line)
        predicted, actual = flagged(probe), bool(probe["label"])
        c = counts[probe["detector"]]
        c["n"] += 1
        c["tp"] += predicted and actual
        c["fp"] += predicted and not actual
        c["fn"] += actual and not predicted
    return {
        name: {
            "n": c["n"],
            "precision": round(c["tp"] / max(1, c["tp"] + c["fp"]), 3),
            "recall": round(c["tp"] / max(1, c["tp"] + c["fn"]), 3),
        }
        for name, c in sorted(counts.items())
    }


if __name__ == "__main__":
    print(json.dumps({name: scores(TESTS / file) for name, file in SETS.items()}))
