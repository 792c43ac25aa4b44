"""SimCLR (Chen et al. 2020): a projection head on each instance, NT-Xent between two views.

Row r of one view's instances is the positive of row r of the other's; every other instance of
both views in the batch is a negative. With a sequence mapping this is SeqCLR (seqclr.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from textssl.config import at_least
from textssl.losses import info_nce
from textssl.methods.base import InstanceMethod, InstanceOptions
from textssl.models.heads import projection_head


@dataclass(kw_only=True)
class SimCLROptions(InstanceOptions):
    temperature: float = at_least(0.1, 1e-3, "InfoNCE temperature")


class SimCLR(InstanceMethod):
    Options = SimCLROptions

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o = self.options
        self.projector = projection_head(o.head, backbone.dim, o.hidden_dim, o.proj_dim)

    def forward(self, batch):
        z1, z2 = (self.projected_instances(v, self.projector, batch.widths) for v in batch.views[:2])
        return info_nce(z1, z2, self.options.temperature), z1
