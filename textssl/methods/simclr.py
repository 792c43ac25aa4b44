"""SimCLR (Chen et al. 2020): a projection head on each instance, NT-Xent between two views.

Row r of one view's instances is the positive of row r of the other's; every other instance of
both views in the batch is a negative. With a sequence mapping this is SeqCLR (seqclr.py).
"""
from __future__ import annotations

from textssl.losses import info_nce
from textssl.methods.base import SSLMethod
from textssl.models.heads import projection_head


class SimCLR(SSLMethod):
    default_mapping = "all"

    def __init__(self, backbone, **options):
        super().__init__(backbone, **options)
        self.projector = projection_head(self.head, backbone.dim, self.hidden_dim, self.proj_dim)

    def forward(self, views, widths=None):
        z1, z2 = (self.projected_instances(v, self.projector, widths) for v in views[:2])
        return info_nce(z1, z2, self.temperature), z1
