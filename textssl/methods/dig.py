"""DiG (Yang et al. 2022): SimMIM's pixel branch and MoCo v3's contrastive branch on one ViT.

The masked original image feeds the pixel branch (mask tokens in the encoder, a linear head, MSE on
the masked patches' normalised pixels, mask ratio 0.7); two augmented views feed the contrastive
branch over patch-wise instances (the token grid averaged over its rows, pooled into 4 windows:
DiG's 1x4 windows of the 8x32 grid), with MoCo v3's projector, predictor, momentum encoder and
InfoNCE at tau 0.2. The loss is ``pixel_weight`` (1.0) x pixel + ``contrastive_weight`` (0.1) x
contrastive. Both branches are the methods' own classes over the same backbone, not copies.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from textssl.augment.masks import MASKS
from textssl.config import at_least, choice, fraction
from textssl.methods import MAPPINGS
from textssl.methods.base import MethodBatch, SSLMethod
from textssl.methods.masked import NORM_PIX_HELP, check_patch_encoder
from textssl.methods.moco import MoCoV3, MoCoV3Options
from textssl.methods.simmim import SimMIM, SimMIMOptions


@dataclass(kw_only=True)
class DiGOptions(MoCoV3Options, SimMIMOptions):
    mapping: str = choice("window", MAPPINGS, "instance mapping of the contrastive branch: all, frame or window")
    windows: int = at_least(4, 1, "instances per image with --mapping window")
    mask: str = choice("random", MASKS, "mask: random patches, block (rectangles of patches) or column (whole columns)")
    mask_ratio: float = fraction(0.7, "part of each image's content patches masked")
    norm_pix: bool = field(default=True, metadata={"help": NORM_PIX_HELP})
    loss: str = choice("mse", ("l1", "mse"), "pixel loss on the masked patches")
    pixel_weight: float = at_least(1.0, 0.0, "weight of the pixel branch's loss")
    contrastive_weight: float = at_least(0.1, 0.0, "weight of the contrastive branch's loss")


def _options(cls, options):
    return cls(**{f.name: getattr(options, f.name) for f in dataclasses.fields(cls)})


class DiG(SSLMethod):
    Options = DiGOptions
    views = ("augment", "augment")
    wants_raw = True
    needs_patches = True

    def __init__(self, backbone, options=None):
        check_patch_encoder(backbone, "dig")
        super().__init__(backbone, options)
        self.pixels = SimMIM(backbone, _options(SimMIMOptions, self.options))
        self.contrast = MoCoV3(backbone, _options(MoCoV3Options, self.options))

    def branch_losses(self, batch: MethodBatch):
        """(pixel loss, contrastive loss, the contrastive branch's embeddings)."""
        pixel, _ = self.pixels(MethodBatch([], batch.widths, batch.raw))
        contrastive, embeddings = self.contrast(batch)
        return pixel, contrastive, embeddings

    def forward(self, batch):
        pixel, contrastive, embeddings = self.branch_losses(batch)
        o = self.options
        return o.pixel_weight * pixel + o.contrastive_weight * contrastive, embeddings

    def check_frames(self, frames, width):
        return self.contrast.check_frames(frames, width)

    def after_step(self, step, total):
        self.contrast.after_step(step, total)

    def reconstruction_views(self, batch, generator=None):
        return self.pixels.reconstruction_views(MethodBatch([], batch.widths, batch.raw), generator)

    def shown_views(self, batch):
        return [*self.contrast.shown_views(batch), *self.pixels.shown_views(MethodBatch([], batch.widths, batch.raw))]
