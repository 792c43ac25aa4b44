"""MoCo (He et al. 2020; Chen et al. 2020, 2021): a query encoder against a momentum encoder's keys.

Three registry names, one per version, because their defaults differ in kind (head, queue, predictor,
momentum schedule): each version's ``--help`` shows what it runs and config.json saves it.

- ``moco-v1``: linear projection, a queue of ``queue_size`` negative keys, InfoNCE at tau 0.07,
  momentum 0.999; the query is the first view, the key the second.
- ``moco-v2``: v1 with the MLP head and tau 0.2 (its cosine learning rate is the run's schedule, its
  blur in the ``seqclr`` views).
- ``moco-v3``: no queue: the other keys of the (global) batch are the negatives; a predictor on the
  query side, the loss symmetric over the two views, momentum from 0.99 to 1 on a cosine schedule.

With a sequence mapping every instance is a query and a key: a queue of K keys holds K / T' images.
Across processes the queue takes every process's keys, and v3 contrasts against all of them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.config import at_least, choice, within
from textssl.losses import moco_loss, query_key_info_nce
from textssl.methods.base import InstanceMethod, InstanceOptions
from textssl.methods.distributed import gather, gather_detached
from textssl.methods.momentum import KeyQueue, cosine_momentum, ema_update, frozen_copy
from textssl.models import HEADS
from textssl.models.heads import MLPHead, projection_head


@dataclass(kw_only=True)
class MoCoV1Options(InstanceOptions):
    head: str = choice("linear", HEADS, "projection head: linear (v1), mlp (v2, v3) or bilstm over the frames")
    temperature: float = at_least(0.07, 1e-3, "InfoNCE temperature")
    momentum: float = within(0.999, 0.0, 1.0, "momentum of the key encoder")
    queue_size: int = at_least(4096, 1, "negative keys in the queue (instances, not images)")


@dataclass(kw_only=True)
class MoCoV2Options(MoCoV1Options):
    head: str = choice("mlp", HEADS, "projection head: linear (v1), mlp (v2, v3) or bilstm over the frames")
    temperature: float = at_least(0.2, 1e-3, "InfoNCE temperature")


@dataclass(kw_only=True)
class MoCoV3Options(InstanceOptions):
    temperature: float = at_least(0.2, 1e-3, "InfoNCE temperature")
    momentum: float = within(0.99, 0.0, 1.0, "momentum of the key encoder at the start; it rises to 1 on a cosine")


class MoCo(InstanceMethod):
    """v1 and v2: queries of the first view against their keys in the second and the queue's."""
    Options = MoCoV1Options

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o = self.options
        self.projector = projection_head(o.head, backbone.dim, o.hidden_dim, o.proj_dim)
        self.key_backbone, self.key_projector = frozen_copy(backbone), frozen_copy(self.projector)
        self.queue = self.make_queue()

    def make_queue(self) -> KeyQueue | None:
        return KeyQueue(self.options.queue_size, self.options.proj_dim, start_random=True)

    @torch.no_grad()
    def keys(self, images, widths):
        return self.projected_instances(images, self.key_projector, widths, self.key_backbone)

    def forward(self, batch):
        q = self.projected_instances(batch.views[0], self.projector, batch.widths)
        k = self.keys(batch.views[1], batch.widths)
        loss = moco_loss(q, k, self.queue.stored(), self.options.temperature)
        self.queue.push(torch.nn.functional.normalize(gather_detached(k), dim=1))
        return loss, q

    def momentum(self, step: int, total: int) -> float:
        return self.options.momentum

    def after_step(self, step, total):
        m = self.momentum(step, total)
        ema_update(self.key_backbone, self.backbone, m)
        ema_update(self.key_projector, self.projector, m)


class MoCoV2(MoCo):
    Options = MoCoV2Options


class MoCoV3(MoCo):
    """Both views as queries (through the predictor) and keys; the global batch's other keys are negatives."""
    Options = MoCoV3Options

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o = self.options
        self.predictor = MLPHead([o.proj_dim, o.hidden_dim, o.proj_dim])

    def make_queue(self):
        return None

    def forward(self, batch):
        t = self.options.temperature
        q1, q2 = (self.predictor(self.projected_instances(v, self.projector, batch.widths)) for v in batch.views[:2])
        (k1, offset), (k2, _) = (gather(self.keys(v, batch.widths)) for v in batch.views[:2])
        return query_key_info_nce(q1, k2, t, offset) + query_key_info_nce(q2, k1, t, offset), q1

    def momentum(self, step, total):
        return cosine_momentum(step, total, self.options.momentum)
