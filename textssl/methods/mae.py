"""MAE (He et al. 2022): the encoder sees only the visible patches; a light decoder reconstructs.

Each image's content patches are masked at ``mask_ratio`` (0.75); the ViT encodes the visible ones
alone (``ViTEncoder.visible_tokens``: the step is cheaper the more is masked), a linear layer maps
them to the decoder's width, mask tokens fill the other positions, a few transformer blocks with
their own position embedding run over the whole grid and a linear head predicts each patch's
normalised pixels; MSE on the masked patches only. Images with less content than the batch's widest
are filled up with their padding patches so that every image gives the encoder the same number of
tokens (``visible_indices``); padding is never a target.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from textssl.augment.masks import visible_indices
from textssl.config import at_least
from textssl.losses import masked_patch_loss
from textssl.methods.masked import MaskedMethod, MaskedOptions
from textssl.models.encoders.vit import Block


@dataclass(kw_only=True)
class MAEOptions(MaskedOptions):
    decoder_dim: int = at_least(128, 8, "width of the decoder")
    decoder_depth: int = at_least(2, 1, "transformer blocks of the decoder")
    decoder_heads: int = at_least(4, 1, "attention heads of the decoder")


class MAE(MaskedMethod):
    Options = MAEOptions
    name = "mae"

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o, encoder = self.options, backbone.encoder
        self.embed = nn.Linear(encoder.dim, o.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, o.decoder_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, o.decoder_dim, *encoder.pos_embed.shape[-2:]))
        self.blocks = nn.ModuleList(Block(o.decoder_dim, o.decoder_heads, 4.0, 0.0) for _ in range(o.decoder_depth))
        self.norm = nn.LayerNorm(o.decoder_dim)
        self.pixel_head = nn.Linear(o.decoder_dim, self.pixels)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def decode(self, latent: torch.Tensor, keep: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Encoded visible tokens [B, K, D] at positions ``keep`` [B, K] -> pixel predictions [B, N, P]."""
        x = self.embed(latent)
        b, d = x.shape[0], x.shape[-1]
        full = self.mask_token.to(x.dtype).expand(b, grid[0] * grid[1], d)
        full = full.scatter(1, keep.unsqueeze(-1).expand(-1, -1, d), x)
        pos = self.pos_embed
        if tuple(pos.shape[-2:]) != grid:
            pos = F.interpolate(pos.float(), size=grid, mode="bicubic", align_corners=False).to(pos.dtype)
        x = full + pos.flatten(2).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return self.pixel_head(self.norm(x))

    def encode_and_decode(self, images: torch.Tensor, mask: torch.Tensor,
                          content: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixel predictions [B, N, P], the encoded visible tokens [B, K, D])."""
        encoder = self.backbone.encoder
        keep = visible_indices(mask, content)
        latent = encoder.visible_tokens(images, keep)
        return self.decode(latent, keep, encoder.grid(images.shape[-2], images.shape[-1])), latent

    def predict(self, images, mask, content):
        return self.encode_and_decode(images, mask, content)[0]

    def forward(self, batch):
        mask, content = self.draw_mask(batch.raw, batch.widths)
        prediction, latent = self.encode_and_decode(batch.raw, mask, content)
        return masked_patch_loss(prediction, self.targets(batch.raw), mask, "mse"), latent.mean(1)
