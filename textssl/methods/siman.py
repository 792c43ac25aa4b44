"""SimAN (Luo et al. 2022): restore an augmented patch of a line from its neighbour's style.

Two adjacent patches of the same width (``patch_width``; 0: half the image width) are cut from a line
at a random place: the one on a random side is taken from the line's ``style`` view (colour, blur,
contrast, noise: appearance only, every pixel in its place), the other from the line as it is. The
encoder's feature sequence of the augmented patch, instance-normalised over its frames, is the
content; the style comes from the unaugmented neighbour, aligned to the content by scaled
dot-product attention (queries: the content, keys: the neighbour's normalised features, values: its
features and their squares, giving a mean and a variance per frame): ``similarity_aware_norm``. The
pixel decoder turns the restyled sequence back into the patch, and the loss is its pixel error
against the patch before augmentation (content columns only, where a line is narrower than two
patches) plus ``adversarial`` times a patch discriminator's generator
loss (two optimizers, as inpainting's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from textssl.config import at_least
from textssl.errors import UserError
from textssl.methods.pretext import GenerativeMethod, GenerativeOptions, content_weight, cut, uniform_int


@dataclass(kw_only=True)
class SimANOptions(GenerativeOptions):
    patch_width: int = at_least(0, 0, "width of each patch in pixels (0: half the image width), a multiple of "
                                      "the encoder's stride")
    adversarial: float = at_least(0.01, 0.0, "weight of the adversarial loss (0: none, no discriminator)")


def instance_norm(seq: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """[B, T, D] -> each channel normalised over the frames to zero mean and unit variance."""
    mean = seq.mean(1, keepdim=True)
    return (seq - mean) / (seq.var(1, keepdim=True, unbiased=False) + eps).sqrt()


def similarity_aware_norm(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor,
                                                                                                    torch.Tensor]:
    """(restyled [B, T, D], the normalised content [B, T, D]) of the augmented patch's features ``content``
    [B, T, D] and the neighbour's ``style`` [B, S, D]: each content frame takes the mean and standard
    deviation of the style frames weighted by softmax(IN(content) . IN(style) / sqrt(D))."""
    with torch.autocast(content.device.type, enabled=False):  # E[s^2] - E[s]^2 loses too much in bfloat16
        content, style = content.float(), style.float()
        normalised = instance_norm(content, eps)
        values = torch.cat([style, style * style], dim=-1)
        moments = F.scaled_dot_product_attention(normalised, instance_norm(style, eps), values,
                                                 scale=1 / math.sqrt(content.shape[-1]))
        mean, square = moments.chunk(2, dim=-1)
        std = (square - mean * mean).clamp_min(0).add(eps).sqrt()
        return std * normalised + mean, normalised


class SimAN(GenerativeMethod):
    Options = SimANOptions
    views = ("style",)
    wants_raw = True
    preview_titles = ("augmented patch | neighbour", "restored patch")

    def patch(self, width: int) -> int:
        stride = self.backbone.width_stride
        return self.options.patch_width or max(stride, width // 2 // stride * stride)

    def check_frames(self, frames, width):
        patch, stride = self.patch(width), self.backbone.width_stride
        if patch % stride or 2 * patch > width:
            return (f"--patch-width {patch}: two adjacent patches need a multiple of {stride} pixels at most half "
                    f"the image width ({width})")
        return None

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        if backbone.sequence is not None:
            raise UserError("--method siman normalises the encoder's own features: give --features visual")

    def generate(self, batch, generator=None):
        raw, styled = batch.raw, batch.views[0]
        b, w = len(raw), raw.shape[-1]
        patch = self.patch(w)
        left = uniform_int(torch.zeros_like(batch.widths), (batch.widths.clamp(max=w) - 2 * patch).clamp(min=0),
                           generator)
        augmented_right = torch.rand(b, device=raw.device, generator=generator) < 0.5
        at = torch.where(augmented_right, left + patch, left)
        neighbour_at = torch.where(augmented_right, left, left + patch)
        augmented, target, neighbour = cut(styled, at, patch), cut(raw, at, patch), cut(raw, neighbour_at, patch)
        content = self.backbone(augmented)
        restyled, _ = similarity_aware_norm(content, self.backbone(neighbour))
        output = self.decoder(restyled, patch)
        weight = cut(content_weight(batch.widths, raw.shape), at, patch)  # a patch reaching into padding
        shown = torch.cat([augmented, torch.ones_like(augmented[..., :3]), neighbour], dim=-1)
        return shown, output, target, weight, content.mean(1)
