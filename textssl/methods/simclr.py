"""SimCLR (Chen et al. 2020): a projection head on each instance, a contrastive loss between two views.

Row r of one view's instances is the positive of row r of the other's. With ``loss="info-nce"``
(NT-Xent) every other instance of both views in the (global) batch is a negative. The other losses
of seed 000 pair the views' rows the same way, on L2-normalised projections, with negatives from this
process's batch: ``triplet`` and ``margin`` (Hadsell's) take for each anchor the hardest negative, the
other view's closest instance of another row (the most informative one for a margin loss; a random
one is mostly already beyond the margin); ``n-pair`` takes every other row of the other view, with
logits a . b / temperature. With a sequence mapping this is SeqCLR (seqclr.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from textssl.config import at_least, choice
from textssl.losses import contrastive_margin, info_nce, n_pair, triplet
from textssl.methods.base import InstanceMethod, InstanceOptions
from textssl.methods.distributed import gather
from textssl.models.heads import projection_head

LOSSES = ("info-nce", "triplet", "n-pair", "margin")


@dataclass(kw_only=True)
class SimCLROptions(InstanceOptions):
    loss: str = choice("info-nce", LOSSES, "contrastive loss: info-nce, triplet, n-pair or margin")
    temperature: float = at_least(0.1, 1e-3, "temperature of info-nce and n-pair")
    margin: float = at_least(0.5, 0.0, "margin of triplet and margin (distances of unit vectors: 0 to 2)")


def hardest_negatives(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """For each row i of a [N, D], the row j != i of b [N, D] nearest to it: [N, D] (gradient through b)."""
    with torch.no_grad():
        distances = torch.cdist(a, b).fill_diagonal_(float("inf"))
    return b[distances.argmin(1)]


def pair_loss(name: str, a: torch.Tensor, b: torch.Tensor, temperature: float, margin: float) -> torch.Tensor:
    """Loss ``name`` of LOSSES between two views' rows a, b [N, D] (row i of each a positive pair)."""
    if name == "info-nce":
        (all_a, offset), (all_b, _) = gather(a), gather(b)
        return info_nce(a, b, temperature, all_a, all_b, offset)
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    if name == "n-pair":
        return n_pair(a / temperature, b)
    negatives = hardest_negatives(a, b)
    if name == "triplet":
        return triplet(a, b, negatives, margin)
    similar = torch.cat([torch.ones(len(a), dtype=torch.bool, device=a.device),
                         torch.zeros(len(a), dtype=torch.bool, device=a.device)])
    return contrastive_margin(torch.cat([a, a]), torch.cat([b, negatives]), similar, margin)


class SimCLR(InstanceMethod):
    Options = SimCLROptions

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o = self.options
        self.projector = projection_head(o.head, backbone.dim, o.hidden_dim, o.proj_dim)

    def forward(self, batch):
        z1, z2 = (self.projected_instances(v, self.projector, batch.widths) for v in batch.views[:2])
        return pair_loss(self.options.loss, z1, z2, self.options.temperature, self.options.margin), z1
