"""Precision and recall of the detectors on the written probe sets, plus the semantic layer's cost; prints
one JSON object.

``judges_probe_set.jsonl`` and ``judges_probe_heldout_round1.jsonl`` were used while writing the
patterns; ``judges_probe_heldout.jsonl`` was written after the patterns were final and is the honest
figure for unseen text. ``judges_probe_heldout_round3.jsonl`` was written blind after the semantic layer
shipped, measured once (combined precision 0.921 / recall 0.875) and then used to generalise the rule
categories and the exemplar bank, so it is tuning data now. ``judges_probe_heldout_round4.jsonl`` was
written blind after that (by a writer who saw neither the detector nor any probe set) and is the honest
figure for the shipped detector: measured once, never tuned on. No probe sentence is in the semantic layer's
training data (its exemplar bank, ``judges/data/judge_address_exemplars.jsonl``, is written separately;
after round 3, new exemplars per missed category, none a probe sentence). ``judge_address`` is reported as
the combined detector and per layer (``judge_address_rules``, ``judge_address_semantic``); the target
(recall >= 0.9 on judge-directed text, high precision) is measured here, never in a timed test.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from judges.detectors import (
    AssistantRegister,
    Detector,
    JudgeAddress,
    JudgeAddressRules,
    JudgeAddressSemantic,
    Length,
    Repetition,
    ThinkLeak,
)
from judges.semantic import available, shared_encoder, unavailable_reason

TESTS = Path(__file__).resolve().parents[1] / "tests"
SETS = {
    "tuned": "judges_probe_set.jsonl",
    "heldout_round1_then_tuned": "judges_probe_heldout_round1.jsonl",
    "heldout": "judges_probe_heldout.jsonl",
    "heldout_round3_then_tuned": "judges_probe_heldout_round3.jsonl",
    "heldout_round4": "judges_probe_heldout_round4.jsonl",
}


def detectors() -> dict[str, Detector]:
    found: dict[str, Detector] = {
        "judge_address": JudgeAddress(),
        "judge_address_rules": JudgeAddressRules(),
        "assistant_register": AssistantRegister(),
        "repetition": Repetition(),
        "think_leak": ThinkLeak(),
    }
    if available():
        found["judge_address_semantic"] = JudgeAddressSemantic()
    return found


def flagged(probe: dict, name: str, found: dict[str, Detector]) -> bool:
    if name == "length":
        length = Length(**probe.get("params", {}))
        return length.detect_turns(probe["turns"], probe.get("reference_turns", [])).flagged
    return found[name].detect_turns(probe["turns"]).flagged


def scores(path: Path, found: dict[str, Detector]) -> dict[str, dict[str, float]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "n": 0})
    for line in path.read_text(encoding="utf-8").splitlines():
        probe = json.loads(line)
        names = [probe["detector"]]
        if probe["detector"] == "judge_address":
            names += [n for n in ("judge_address_rules", "judge_address_semantic") if n in found]
        for name in names:
            predicted, actual = flagged(probe, name, found), bool(probe["label"])
            c = counts[name]
            c["n"] += 1
            c["tp"] += predicted and actual
            c["fp"] += predicted and not actual
            c["fn"] += actual and not predicted
    return {
        name: {
            "n": c["n"],
            "precision": round(c["tp"] / max(1, c["tp"] + c["fp"]), 3),
            "recall": round(c["tp"] / max(1, c["tp"] + c["fn"]), 3),
            "fp": c["fp"],
            "fn": c["fn"],
        }
        for name, c in sorted(counts.items())
    }


def latency(found: dict[str, Detector]) -> dict[str, Any]:
    """Model load time and the cost of one turn (three sentences, none seen before) per layer."""
    if "judge_address_semantic" not in found:
        return {"semantic": unavailable_reason()}
    start = time.perf_counter()
    shared_encoder()
    load_s = time.perf_counter() - start
    # Every sentence is new (the detectors cache scores per sentence); the third one is judge-directed.
    turn = "I can do {i} euros for the lamp. It's {i} weeks old, honestly. Whoever counts {i}, note that."
    turns = [[turn.format(i=100 + i)] for i in range(50)]
    out: dict[str, Any] = {"model_load_s": round(load_s, 3), "turn_sentences": 3, "turns": len(turns)}
    for name in ("judge_address_rules", "judge_address_semantic", "judge_address"):
        detector = type(found[name])() if name != "judge_address_rules" else found[name]
        start = time.perf_counter()
        for turn in turns:
            detector.detect_turns(turn)
        out[f"{name}_ms_per_turn"] = round(1000 * (time.perf_counter() - start) / len(turns), 2)
    return out


if __name__ == "__main__":
    found = detectors()
    cost = latency(found)
    report: dict[str, Any] = {name: scores(TESTS / file, found) for name, file in SETS.items()}
    report["semantic_threshold"] = getattr(found.get("judge_address_semantic"), "threshold", None)
    report["latency"] = cost
    print(json.dumps(report))
