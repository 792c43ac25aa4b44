"""SwAV (Caron et al. 2020): swap the cluster assignments of views of the same image.

Each instance's projection is scored against ``prototypes`` unit vectors (a linear layer normalised
after every step, and frozen for the first ``freeze_prototypes`` steps); Sinkhorn-Knopp turns the full
views' scores into codes that split the (global) batch equally over the prototypes, and each view's
scores predict the other full views' codes. A queue of past projections (``queue_size``) enlarges the
set Sinkhorn partitions when batches are small.

Multi-crop: ``crops`` extra views, each a random span of ``crop_scale`` of the line's content width,
cut from its own augmented view and resized to half the image width: a cheap view of part of the line.
They only predict codes. A crop holds part of the line, so its frame or window j does not show what
window j of a full view shows: with the ``frame`` or ``window`` mapping crops are refused (give
``--crops 0``) rather than paired with windows they do not match.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from textssl.config import at_least, fraction, within
from textssl.errors import UserError
from textssl.losses import sinkhorn, swapped_prediction
from textssl.methods.base import InstanceMethod, InstanceOptions
from textssl.methods.distributed import all_reduce_sum
from textssl.methods.momentum import KeyQueue
from textssl.models.heads import projection_head


@dataclass(kw_only=True)
class SwAVOptions(InstanceOptions):
    prototypes: int = at_least(128, 2, "number of prototypes")
    temperature: float = at_least(0.1, 1e-3, "temperature of the swapped prediction")
    epsilon: float = within(0.05, 0.002, 10.0, "Sinkhorn's entropy regularisation")
    sinkhorn_iterations: int = at_least(3, 1, "Sinkhorn-Knopp iterations")
    freeze_prototypes: int = at_least(100, 0, "steps during which the prototypes are not trained")
    queue_size: int = at_least(0, 0, "past projections Sinkhorn partitions with the batch (0: none)")
    crops: int = at_least(2, 0, "small crops along the width besides the two full views")
    crop_scale: float = fraction(0.5, "part of the content width a small crop holds")


def width_crops(images: torch.Tensor, widths: torch.Tensor, scale: float, out_width: int) -> torch.Tensor:
    """One random crop per image [B, C, H, W] -> [B, C, H, out_width]: full height, ``scale`` of the
    image's content width (``widths``, pixels) from a uniformly drawn start, resampled bilinearly."""
    span = widths.to(images.dtype) * scale
    start = torch.rand(len(images), device=images.device, dtype=images.dtype) * (widths.to(images.dtype) - span)
    return resampled_span(images, start, span, out_width)


def resampled_span(images: torch.Tensor, start: torch.Tensor, span: torch.Tensor, out_width: int) -> torch.Tensor:
    """Columns ``start[b]`` .. ``start[b] + span[b]`` (pixels, float [B]) of each image [B, C, H, W], full
    height, resampled bilinearly to [B, C, H, out_width]."""
    b, c, h, w = images.shape
    theta = torch.zeros(b, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = span / w
    theta[:, 0, 2] = (2 * start + span) / w - 1
    theta[:, 1, 1] = 1
    grid = F.affine_grid(theta, [b, c, h, out_width], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class SwAV(InstanceMethod):
    Options = SwAVOptions

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o = self.options
        if o.crops and o.mapping != "all":
            raise UserError(f"--crops {o.crops} needs --mapping all: a crop holds part of the line, so its "
                            f"{o.mapping}s do not match the full view's; give --crops 0")
        self.views = ("augment",) * (2 + o.crops)
        self.projector = projection_head(o.head, backbone.dim, o.hidden_dim, o.proj_dim)
        self.prototypes = nn.Linear(o.proj_dim, o.prototypes, bias=False)
        self.normalize_prototypes()
        self.queue = KeyQueue(o.queue_size, o.proj_dim) if o.queue_size else None
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def normalize_prototypes(self):
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def crop_width(self, width: int) -> int:
        stride = self.backbone.width_stride
        return max(stride, width // 2 // stride * stride)

    def crops(self, batch) -> list[torch.Tensor]:
        width = self.crop_width(batch.views[0].shape[-1])
        return [width_crops(v, batch.widths, self.options.crop_scale, width) for v in batch.views[2:]]

    def shown_views(self, batch):
        return [("view 1", batch.views[0]), ("view 2", batch.views[1]),
                *((f"crop {i + 1}", c) for i, c in enumerate(self.crops(batch)))]

    def codes(self, scores: torch.Tensor) -> torch.Tensor:
        """Sinkhorn's codes [N, K] of a full view's scores [N, K], partitioned together with the queue's
        projections once it is full. The queue is this process's own: Sinkhorn's sums span the processes."""
        o, n = self.options, len(scores)
        if self.queue is not None and len(self.queue) == o.queue_size:
            scores = torch.cat([scores, self.queue.stored() @ self.prototypes.weight.T])
        return sinkhorn(scores.detach(), o.epsilon, o.sinkhorn_iterations, all_reduce_sum)[:n]

    def forward(self, batch):
        o = self.options
        weight = self.prototypes.weight
        if int(self.steps_done) < o.freeze_prototypes:  # a zero gradient: still used, as DDP requires
            weight = weight.detach() + 0 * weight
        crops = self.crops(batch)
        z = [F.normalize(self.projected_instances(v, self.projector, batch.widths), dim=1) for v in batch.views[:2]]
        z += [F.normalize(self.projected_instances(c, self.projector), dim=1) for c in crops]
        scores = [zi @ weight.T for zi in z]
        codes = [self.codes(s) for s in scores[:2]]
        if self.queue is not None:
            self.queue.push(torch.cat(z[:2]))
        return swapped_prediction(scores, codes, o.temperature), z[0]

    def after_step(self, step, total):
        self.steps_done.fill_(step)
        self.normalize_prototypes()
