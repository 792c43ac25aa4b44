"""SeqCLR (Aberdam et al. 2021): contrast the sub-word instances of two sequence-preserving views.

Every instance r of every image in view a has one positive, instance r of the same image in view
b; all other instances of the batch in both views are negatives. The projection head is an MLP
per instance, or a BiLSTM over the frames before the mapping.
"""
from __future__ import annotations

from textssl.losses import info_nce
from textssl.methods.base import SSLMethod
from textssl.methods.mapping import map_instances
from textssl.models.heads import projection_head


class SeqCLR(SSLMethod):
    default_mapping = "window"

    def __init__(self, backbone, **options):
        super().__init__(backbone, **options)
        self.projector = projection_head(self.head, backbone.dim, self.hidden_dim, self.proj_dim)

    def embed(self, images):
        if self.head == "bilstm":
            return map_instances(self.projector(self.backbone(images)), self.mapping, self.windows)
        return self.projector(self.instances(images))

    def forward(self, views):
        z1, z2 = (self.embed(v).flatten(0, 1) for v in views[:2])
        return info_nce(z1, z2, self.temperature), z1
