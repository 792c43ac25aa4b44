"""SwAV's clustering losses as pure functions: Sinkhorn-Knopp's equal-partition codes and the swapped
prediction between views."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def _local(x: Tensor) -> Tensor:
    return x


@torch.no_grad()
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iterations: int = 3,
             all_reduce: Callable[[Tensor], Tensor] = _local) -> Tensor:
    """Soft codes [B, K] of B samples' prototype scores [B, K], cosines in [-1, 1] (Caron et al. 2020, Alg. 1).

    Q = exp(scores / epsilon) is scaled in turn so that its prototypes (columns) sum to 1/K and its
    samples (rows) to 1/B, ``iterations`` times, ending with the rows; the codes are B Q, each row a
    distribution over the prototypes. Across processes ``all_reduce`` sums a tensor over them (B is then
    the global batch), so that the equal partition holds over the whole batch.
    """
    q = (scores.double() / epsilon).exp()  # float64: cosine scores up to 1 stay finite for epsilon >= 0.0015
    samples = all_reduce(torch.tensor([float(len(q))], device=q.device))
    prototypes = q.shape[1]
    q = q / all_reduce(q.sum().view(1))
    for _ in range(iterations):
        q = q / all_reduce(q.sum(0)) / prototypes
        q = q / q.sum(1, keepdim=True) / samples
    return (q * samples).to(scores.dtype)


def swapped_prediction(scores: list[Tensor], codes: list[Tensor], temperature: float = 0.1) -> Tensor:
    """SwAV's loss: each view's scores predict the codes of the other full views.

    scores: V tensors [B, K], the prototype scores of every view (the full views first, then the small
    crops); codes: F <= V tensors [B, K], the codes (``sinkhorn``) of the first F views. For each code
    c_i the cross-entropy -sum_k c_ik log softmax(s_v / temperature)_k is averaged over the samples and
    over every view v != i; the result is the mean over the F codes.
    """
    total = 0.0
    for i, code in enumerate(codes):
        others = [s for v, s in enumerate(scores) if v != i]
        total = total + sum(-(code * F.log_softmax(s / temperature, dim=1)).sum(1).mean() for s in others) / len(others)
    return total / len(codes)
