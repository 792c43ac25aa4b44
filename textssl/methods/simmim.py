"""SimMIM (Xie et al. 2022): mask tokens in the encoder's input, a linear head predicts the pixels.

The ViT sees every patch, the masked ones replaced by its learned mask token; one linear layer maps
each token to its patch's pixels, and the loss is the L1 error on the masked patches only. Block
masks at 0.6 by default (SimMIM masks large patches; on a 4x4 grid of text that is a rectangle of
patches); raw pixel targets.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from textssl.config import choice, fraction
from textssl.augment.masks import MASKS
from textssl.losses import masked_patch_loss
from textssl.methods.masked import NORM_PIX_HELP, MaskedMethod, MaskedOptions


@dataclass(kw_only=True)
class SimMIMOptions(MaskedOptions):
    mask: str = choice("block", MASKS, "mask: random patches, block (rectangles of patches) or column (whole columns)")
    mask_ratio: float = fraction(0.6, "part of each image's content patches masked")
    norm_pix: bool = field(default=False, metadata={"help": NORM_PIX_HELP})
    loss: str = choice("l1", ("l1", "mse"), "pixel loss on the masked patches")


class SimMIM(MaskedMethod):
    Options = SimMIMOptions
    name = "simmim"

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        self.pixel_head = nn.Linear(backbone.encoder.dim, self.pixels)

    def predict(self, images: torch.Tensor, mask: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        return self.pixel_head(self.backbone.encoder.tokens(images, mask))

    def forward(self, batch):
        images = batch.raw
        mask, _ = self.draw_mask(images, batch.widths)
        tokens = self.backbone.encoder.tokens(images, mask)
        loss = masked_patch_loss(self.pixel_head(tokens), self.targets(images), mask, self.options.loss)
        return loss, tokens.mean(1)
