"""Greedy CTC decoding. The blank is class 0 (see textssl.data.charset.BLANK)."""
from __future__ import annotations

import torch

from textssl.data.charset import BLANK


def greedy_decode(logits: torch.Tensor) -> list[tuple[list[int], float]]:
    """Best-path decoding.

    logits: [B, T, K]. Returns one (class ids, confidence) per row: the argmax path with repeats
    merged and blanks removed; the confidence is the probability of that path, the product over
    frames of the highest class probability.
    """
    best_log_prob, best = logits.float().log_softmax(-1).max(-1)  # [B, T]
    confidence = best_log_prob.sum(-1).exp()
    keep = best != BLANK
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    best, keep, confidence = best.cpu(), keep.cpu(), confidence.tolist()  # one device sync for the batch
    return [(row[mask].tolist(), conf) for row, mask, conf in zip(best, keep, confidence)]
