"""Log-likelihoods under a causal LM, for measuring what training changed.

``completion_logprob`` scores a completion in the assistant slot of a chat prompt (rendered with the
tokenizer's chat template and generation prompt), the way a policy would produce it: the learning-signal
checks of ``osim train sft`` compare these before and after training (docs in the README's "Train").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def completion_logprob(
    model: Any, tokenizer: Any, prompt: Sequence[dict[str, str]], completion: str
) -> float:
    """Sum of log p(completion tokens | prompt) with the prompt's generation prompt."""
    import torch

    head = str(tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True))
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    tail_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head_ids + tail_ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(head_ids) - 1 : -1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return float(logprobs.gather(1, torch.tensor(tail_ids, device=model.device)[:, None]).sum())


def mean_completion_logprob(
    model: Any, tokenizer: Any, pairs: Sequence[tuple[Sequence[dict[str, str]], str]]
) -> float:
    """The mean of ``completion_logprob`` over (prompt, completion) pairs."""
    was_training = model.training
    model.eval()
    try:
        return sum(completion_logprob(model, tokenizer, p, c) for p, c in pairs) / max(1, len(pairs))
    finally:
        model.train(was_training)
