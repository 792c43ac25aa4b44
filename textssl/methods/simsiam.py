"""SimSiam (Chen & He 2021): projector + predictor, stop-gradient, symmetric negative cosine."""
from __future__ import annotations

from textssl.losses import negative_cosine
from textssl.methods.base import InstanceMethod
from textssl.models.heads import MLPHead, projection_head


class SimSiam(InstanceMethod):
    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o = self.options
        self.projector = projection_head(o.head, backbone.dim, o.hidden_dim, o.proj_dim, last_bn=True)
        self.predictor = MLPHead([o.proj_dim, o.proj_dim // 2, o.proj_dim])

    def forward(self, batch):
        z1, z2 = (self.projected_instances(v, self.projector, batch.widths) for v in batch.views[:2])
        p1, p2 = self.predictor(z1), self.predictor(z2)
        return 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1)), z1
