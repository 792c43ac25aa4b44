"""Contrastive losses as pure functions: InfoNCE / NT-Xent, SimSiam's negative cosine,
Hadsell's margin loss, triplet and N-pair. Each returns a scalar tensor."""

import torch
import torch.nn.functional as F
from torch import Tensor


def _distance(x1: Tensor, x2: Tensor, eps: float = 1e-12) -> Tensor:
    """Euclidean distance between rows, [N, D] x [N, D] -> [N].

    Clamped inside the square root so that identical rows give a finite (zero) gradient;
    the value moves by at most sqrt(eps).
    """
    return (x1 - x2).pow(2).sum(-1).clamp_min(eps).sqrt()


def info_nce(a: Tensor, b: Tensor, temperature: float = 0.1) -> Tensor:
    """NT-Xent (SimCLR) over two views of N instances.

    a, b: [N, D], the two views; row i of a and row i of b are a positive pair.
    Rows are L2-normalised. Every one of the 2N rows is an anchor whose positive is its
    partner and whose negatives are the other 2N - 2 rows. Returns the mean cross-entropy.
    """
    n = a.shape[0]
    z = F.normalize(torch.cat([a, b]), dim=1)                                     # [2N, D]
    sim = z @ z.T / temperature                                                   # [2N, 2N]
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    target = torch.arange(2 * n, device=z.device).roll(n)                        # i -> i+N mod 2N
    return F.cross_entropy(sim, target)


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
