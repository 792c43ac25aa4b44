"""SimSiam (Chen & He 2021): projector + predictor, stop-gradient, symmetric negative cosine."""
from __future__ import annotations

from textssl.losses import negative_cosine
from textssl.methods.base import SSLMethod
from textssl.models.heads import MLPHead, projection_head


class SimSiam(SSLMethod):
    default_mapping = "all"

    def __init__(self, backbone, **options):
        super().__init__(backbone, **options)
        self.projector = projection_head(self.head, backbone.dim, self.hidden_dim, self.proj_dim, last_bn=True)
        self.predictor = MLPHead([self.proj_dim, self.proj_dim // 2, self.proj_dim])

    def forward(self, views, widths=None):
        z1, z2 = (self.projected_instances(v, self.projector, widths) for v in views[:2])
        p1, p2 = self.predictor(z1), self.predictor(z2)
        return 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1)), z1
