"""What the masked image modelling methods (MAE, SimMIM, DiG) share: their masking options, the
check that the encoder has patch tokens, the mask of a batch and the pixel targets.

Padding: a mask covers content patches only (``valid_columns`` from the batch's widths) and the loss
counts masked patches only, so a padding patch is never a target (docs/DESIGN.md, "Masked image
modelling").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from textssl.augment.masks import MASKS, patch_mask, valid_columns
from textssl.config import choice, fraction
from textssl.errors import UserError
from textssl.losses import normalized_patches
from textssl.methods.base import MethodOptions, SSLMethod


NORM_PIX_HELP = "targets: each patch's pixels less their mean, over their standard deviation"


@dataclass(kw_only=True)
class MaskedOptions(MethodOptions):
    mask: str = choice("random", MASKS, "mask: random patches, block (rectangles of patches) or column (whole columns)")
    mask_ratio: float = fraction(0.75, "part of each image's content patches masked")
    norm_pix: bool = field(default=True, metadata={"help": NORM_PIX_HELP})


def check_patch_encoder(backbone, method: str) -> None:
    """A UserError unless ``backbone`` pretrains an encoder with patch tokens, on its own features."""
    if not hasattr(backbone.encoder, "tokens"):
        raise UserError(f"--method {method} masks patches: it needs --encoder vit, not --encoder "
                        f"{backbone.assembly.encoder}")
    if backbone.sequence is not None:
        raise UserError(f"--method {method} pretrains the encoder's patch tokens: give --features visual")


class MaskedMethod(SSLMethod):
    """The raw images, masked: no augmentation pipeline (the mask is the corruption)."""
    Options = MaskedOptions
    views = ()
    wants_raw = True
    name = "masked"
    needs_patches = True

    def __init__(self, backbone, options=None):
        check_patch_encoder(backbone, self.name)
        super().__init__(backbone, options)
        encoder = backbone.encoder
        self.pixels = encoder.patch[0] * encoder.patch[1] * encoder.in_channels

    def draw_mask(self, images: torch.Tensor, widths: torch.Tensor,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mask, content), bool [B, N] each: the patches masked, and those that hold content."""
        encoder = self.backbone.encoder
        gh, gw = encoder.grid(images.shape[-2], images.shape[-1])
        valid = valid_columns(widths.to(images.device), encoder.patch[1], gw)
        mask = patch_mask(self.options.mask, (gh, gw), self.options.mask_ratio, valid, generator)
        content = (torch.arange(gw, device=images.device) < valid.unsqueeze(1)).unsqueeze(1).expand(-1, gh, -1)
        return mask, content.flatten(1)

    def targets(self, images: torch.Tensor) -> torch.Tensor:
        """[B, N, P]: each patch's pixels, normalised with ``norm_pix``."""
        patches = self.backbone.encoder.patchify(images)
        return normalized_patches(patches) if self.options.norm_pix else patches

    def reconstruct(self, images: torch.Tensor, widths: torch.Tensor,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked input, reconstruction), float [B, C, H, W] in [0, 1], for a preview: masked patches
        grey in the first; the second is the input with its masked patches predicted. Normalised
        predictions are given the mean and spread of the image's visible pixels, not of each target
        patch: a patch's own mean would paint the characters whatever the model predicts."""
        mask, content = self.draw_mask(images, widths, generator)
        prediction = self.predict(images, mask, content)
        encoder = self.backbone.encoder
        patches = encoder.patchify(images)
        if self.options.norm_pix:
            seen = (content & ~mask).unsqueeze(-1).expand_as(patches).float()
            count = seen.sum((1, 2), keepdim=True).clamp_min(1)
            mean = (patches * seen).sum((1, 2), keepdim=True) / count
            std = (((patches - mean) ** 2 * seen).sum((1, 2), keepdim=True) / count).sqrt()
            prediction = prediction * std + mean
        rebuilt = torch.where(mask.unsqueeze(-1), prediction.clamp(0, 1), patches)
        return self.masked_input(images, mask), encoder.unpatchify(rebuilt, *images.shape[-2:])

    def reconstruction_views(self, batch, generator=None) -> list[tuple[str, torch.Tensor]]:
        """(title, images) of the masked input and the reconstruction, for RUN/reconstructions.png."""
        masked, rebuilt = self.reconstruct(batch.raw, batch.widths, generator)
        return [("masked", masked), ("reconstruction", rebuilt)]

    def masked_input(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``images`` with their masked patches grey."""
        encoder = self.backbone.encoder
        patches = encoder.patchify(images)
        masked = torch.where(mask.unsqueeze(-1), torch.full_like(patches, 0.5), patches)
        return encoder.unpatchify(masked, *images.shape[-2:])

    def predict(self, images: torch.Tensor, mask: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """Pixel predictions [B, N, P] of every patch given ``mask`` (and ``content``, see draw_mask)."""
        raise NotImplementedError

    def shown_views(self, batch):
        masked = self.masked_input(batch.raw, self.draw_mask(batch.raw, batch.widths)[0])
        return [("original", batch.raw), (f"{self.options.mask} mask, {self.options.mask_ratio:g}", masked)]
