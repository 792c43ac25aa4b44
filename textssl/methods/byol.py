"""BYOL (Grill et al. 2020): an online network predicts a momentum target's projection of the other view.

No negatives: the predictor on the online side and the slowly moving target keep the representation
from collapsing. The target (backbone and projector) follows the online one by an exponential moving
average whose rate tau rises from ``momentum`` (0.996) to 1 on a cosine schedule over the run. The loss
is the normalised MSE of both directions, summed. BYOL's views are asymmetric (less blur and
solarisation in the second); ``second_view`` names the second view's pipeline to get that.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.augment import PIPELINES
from textssl.config import choice, within
from textssl.losses import normalized_mse
from textssl.methods.base import InstanceMethod, InstanceOptions
from textssl.methods.momentum import cosine_momentum, ema_update, frozen_copy
from textssl.models.heads import MLPHead, projection_head


@dataclass(kw_only=True)
class BYOLOptions(InstanceOptions):
    momentum: float = within(0.996, 0.0, 1.0, "target network's EMA rate at the start; it rises to 1 on a cosine")
    second_view: str = choice("augment", ("augment", *PIPELINES),
                              "pipeline of the second view: augment (the run's --augment) or another, e.g. "
                              "seqclr-light for BYOL's asymmetric views")


class BYOL(InstanceMethod):
    Options = BYOLOptions

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o = self.options
        self.views = ("augment", o.second_view)
        self.projector = projection_head(o.head, backbone.dim, o.hidden_dim, o.proj_dim)
        self.predictor = MLPHead([o.proj_dim, o.hidden_dim, o.proj_dim])
        self.target_backbone, self.target_projector = frozen_copy(backbone), frozen_copy(self.projector)

    def forward(self, batch):
        z1, z2 = (self.projected_instances(v, self.projector, batch.widths) for v in batch.views[:2])
        with torch.no_grad():
            t1, t2 = (self.projected_instances(v, self.target_projector, batch.widths, self.target_backbone)
                      for v in batch.views[:2])
        return normalized_mse(self.predictor(z1), t2) + normalized_mse(self.predictor(z2), t1), z1

    def after_step(self, step, total):
        tau = cosine_momentum(step, total, self.options.momentum)
        ema_update(self.target_backbone, self.backbone, tau)
        ema_update(self.target_projector, self.projector, tau)
