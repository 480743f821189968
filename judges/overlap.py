"""Reference overlap metrics (BLEU-4, ROUGE-L F1) from the well-kept ``sacrebleu`` and ``rouge-score``.

Both are computed on lowercased ``\\w+`` words, so punctuation and casing never move the numbers.
They are reported next to LLM judgments (CoSER), never used as a reward on their own by default.
"""

from __future__ import annotations

from functools import lru_cache

from judges.lexical import word_tokens


@lru_cache(maxsize=1)
def _bleu():
    from sacrebleu.metrics import BLEU

    # Sentence-level BLEU-4 with exponential smoothing (sacrebleu's default "exp" method).
    return BLEU(lowercase=True, tokenize="none", smooth_method="exp", effective_order=True)


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"])


def bleu4(hypothesis: str, reference: str) -> float:
    """Smoothed sentence BLEU-4 in [0, 1] on lowercased words (0 when either side is empty)."""
    hyp, ref = " ".join(word_tokens(hypothesis)), " ".join(word_tokens(reference))
    if not hyp or not ref:
        return 0.0
    # sacrebleu's float arithmetic can land just above 100 on identical texts (1.0000000000000004).
    return min(1.0, _bleu().sentence_score(hyp, [ref]).score / 100.0)


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F1 in [0, 1] on lowercased words."""
    hyp, ref = " ".join(word_tokens(hypothesis)), " ".join(word_tokens(reference))
    if not hyp or not ref:
        return 0.0
    return float(_rouge().score(ref, hyp)["rougeL"].fmeasure)
