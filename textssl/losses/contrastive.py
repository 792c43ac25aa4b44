"""Contrastive losses as pure functions: InfoNCE / NT-Xent, MoCo's against a queue and v3's, SimSiam's
negative cosine, BYOL's normalised MSE, Hadsell's margin loss, triplet and N-pair. Each returns a scalar
tensor (``moco_logits`` the logits)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _distance(x1: Tensor, x2: Tensor, eps: float = 1e-12) -> Tensor:
    """Euclidean distance between rows, [N, D] x [N, D] -> [N].

    Clamped inside the square root so that identical rows give a finite (zero) gradient;
    the value moves by at most sqrt(eps).
    """
    return (x1 - x2).pow(2).sum(-1).clamp_min(eps).sqrt()


def info_nce(a: Tensor, b: Tensor, temperature: float = 0.1, all_a: Tensor | None = None,
             all_b: Tensor | None = None, offset: int = 0) -> Tensor:
    """NT-Xent (SimCLR) over two views of N instances.

    a, b: [N, D], the two views; row i of a and row i of b are a positive pair.
    Rows are L2-normalised. Every one of the 2N rows is an anchor whose positive is its
    partner and whose negatives are the other 2N - 2 rows. Returns the mean cross-entropy.

    Across processes: all_a, all_b [M, D] are every process's rows (textssl.methods.distributed.gather),
    this process's at rows offset .. offset + N - 1; the anchors are this process's 2N rows, their
    negatives the other 2M - 2 rows of all processes.
    """
    n = a.shape[0]
    all_a, all_b = (a, b) if all_a is None else (all_a, all_b)
    m = all_a.shape[0]
    anchors = F.normalize(torch.cat([a, b]), dim=1)                                # [2N, D]
    keys = F.normalize(torch.cat([all_a, all_b]), dim=1)                           # [2M, D]
    sim = anchors @ keys.T / temperature                                          # [2N, 2M]
    own = offset + torch.arange(n, device=a.device)
    self_index = torch.cat([own, own + m])
    sim = sim.masked_fill(F.one_hot(self_index, 2 * m).bool(), float("-inf"))
    return F.cross_entropy(sim, torch.cat([own + m, own]))


def moco_logits(q: Tensor, k: Tensor, queue: Tensor, temperature: float) -> Tensor:
    """MoCo v1 / v2's logits: [N, 1 + K], the positive at index 0.

    q: [N, D] queries; k: [N, D] their keys (no gradient); queue: [K, D] negative keys. Rows are
    L2-normalised; column 0 holds q_i . k_i, columns 1..K q_i . queue_j, all over the temperature.
    The loss is the cross-entropy with target 0 (``moco_loss``).
    """
    q, k, queue = F.normalize(q, dim=1), F.normalize(k.detach(), dim=1), F.normalize(queue.detach(), dim=1)
    positive = (q * k).sum(1, keepdim=True)                                       # [N, 1]
    return torch.cat([positive, q @ queue.T], dim=1) / temperature


def moco_loss(q: Tensor, k: Tensor, queue: Tensor, temperature: float) -> Tensor:
    """Cross-entropy of ``moco_logits`` with the positive at index 0; shapes as there."""
    logits = moco_logits(q, k, queue, temperature)
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def query_key_info_nce(q: Tensor, keys: Tensor, temperature: float, offset: int = 0) -> Tensor:
    """MoCo v3's contrastive loss: query i's positive is key offset + i, every other key a negative.

    q: [N, D] queries of this process; keys: [M, D] the momentum encoder's keys of every process
    (no gradient), this process's at rows offset .. offset + N - 1. Rows are L2-normalised. Returns the
    mean cross-entropy times 2 * temperature, MoCo v3's scale (its gradient does not grow as tau falls).
    """
    q, keys = F.normalize(q, dim=1), F.normalize(keys.detach(), dim=1)
    target = offset + torch.arange(len(q), device=q.device)
    return F.cross_entropy(q @ keys.T / temperature, target) * 2 * temperature


def normalized_mse(p: Tensor, z: Tensor) -> Tensor:
    """BYOL's loss: the mean squared distance of L2-normalised rows, 2 - 2 cos(p, z).

    p: [N, D] online predictions; z: [N, D] target projections, which receive no gradient.
    """
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1)).mean()


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """SimSiam / BYOL loss: minus the mean cosine similarity of rows of p and z.

    p: [N, D] predictions; z: [N, D] targets, which receive no gradient.
    """
    return -F.cosine_similarity(p, z.detach(), dim=-1).mean()


def contrastive_margin(x1: Tensor, x2: Tensor, similar: Tensor, margin: float = 1.0) -> Tensor:
    """Hadsell, Chopra & LeCun 2006.

    x1, x2: [N, D]; similar: bool [N]. With d the Euclidean distance of a pair, a similar
    pair costs 0.5 d^2 and a dissimilar one 0.5 max(0, margin - d)^2; mean over pairs.
    """
    d2 = (x1 - x2).pow(2).sum(-1)
    d = _distance(x1, x2)
    pull = 0.5 * d2
    push = 0.5 * (margin - d).clamp_min(0).pow(2)
    return torch.where(similar, pull, push).mean()


def triplet(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0) -> Tensor:
    """Triplet loss: mean of max(0, d(a, p) - d(a, n) + margin), Euclidean d.

    anchor, positive, negative: [N, D].
    """
    return (_distance(anchor, positive) - _distance(anchor, negative) + margin).clamp_min(0).mean()


def n_pair(anchor: Tensor, positive: Tensor) -> Tensor:
    """Multi-class N-pair loss (Sohn 2016).

    anchor, positive: [N, D]. Logits anchor @ positive^T; the positive of anchor i is
    positive i, the other N - 1 positives are its negatives. Mean cross-entropy.
    """
    logits = anchor @ positive.T                                                  # [N, N]
    return F.cross_entropy(logits, torch.arange(anchor.shape[0], device=anchor.device))
