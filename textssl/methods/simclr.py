"""SimCLR (Chen et al. 2020): an MLP projection of each instance, NT-Xent between two views."""
from __future__ import annotations

from textssl.losses import info_nce
from textssl.methods.base import SSLMethod
from textssl.models.heads import MLPHead


class SimCLR(SSLMethod):
    default_mapping = "all"

    def __init__(self, backbone, **options):
        super().__init__(backbone, **options)
        self.projector = MLPHead([backbone.dim, self.hidden_dim, self.proj_dim])

    def forward(self, views):
        z1, z2 = (self.projector(self.instances(v)).flatten(0, 1) for v in views[:2])
        return info_nce(z1, z2, self.temperature), z1
