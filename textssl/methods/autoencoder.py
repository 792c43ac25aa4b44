"""Denoising autoencoder (Vincent et al. 2008): the clean line from a corrupted one.

Each augmented view is corrupted by Gaussian noise (``noise`` standard deviation) and by grey
rectangles (``erase`` of its content's 4 x stride pixel cells, drawn as MAE's random patch masks over
the cells the content reaches); the encoder sees the corrupted view, the pixel decoder reconstructs
the clean one, and the loss is the pixel error over the content columns.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from textssl.augment.masks import patch_mask, valid_columns
from textssl.config import at_least, choice, fraction
from textssl.methods.pretext import GenerativeMethod, GenerativeOptions, content_weight, pool_content

CELL_HEIGHT = 4


@dataclass(kw_only=True)
class AutoencoderOptions(GenerativeOptions):
    noise: float = at_least(0.1, 0.0, "standard deviation of the Gaussian noise added to the input")
    erase: float = fraction(0.25, "part of the content's cells greyed out in the input")
    loss: str = choice("mse", ("mse", "l1"), "pixel loss against the clean view")


def erased_cells(widths: torch.Tensor, shape: torch.Size, cell: tuple[int, int], ratio: float,
                 generator=None) -> torch.Tensor:
    """bool [B, 1, H, W]: ``ratio`` of each image's content cells (``cell`` = (height, width) pixels)."""
    b, _, h, w = shape
    grid = (h // cell[0], w // cell[1])
    mask = patch_mask("random", grid, ratio, valid_columns(widths, cell[1], grid[1]), generator)
    mask = mask.view(b, 1, *grid).repeat_interleave(cell[0], 2).repeat_interleave(cell[1], 3)
    return F.pad(mask, (0, w - mask.shape[-1], 0, h - mask.shape[-2]))


def corrupted(images: torch.Tensor, erased: torch.Tensor, noise: float, generator=None) -> torch.Tensor:
    """``images`` plus Gaussian noise of std ``noise``, grey (0.5) where ``erased``, clamped to [0, 1]."""
    noisy = images + noise * torch.randn(images.shape, device=images.device, dtype=images.dtype, generator=generator)
    return torch.where(erased, torch.full_like(images, 0.5), noisy).clamp(0, 1)


class Autoencoder(GenerativeMethod):
    Options = AutoencoderOptions
    preview_titles = ("corrupted input", "reconstruction")

    def generate(self, batch, generator=None):
        o, clean = self.options, batch.views[0]
        erased = erased_cells(batch.widths, clean.shape, (CELL_HEIGHT, self.backbone.width_stride), o.erase, generator)
        inputs = corrupted(clean, erased, o.noise, generator)
        seq = self.backbone(inputs)
        return (inputs, self.decoder(seq, clean.shape[-1]), clean, content_weight(batch.widths, clean.shape),
                pool_content(seq, batch.widths, self.backbone.width_stride))
