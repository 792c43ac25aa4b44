"""Context encoder (Pathak et al. 2016): fill in an erased span of a line, under an adversarial loss.

A span of ``region`` of each augmented view's content width, full height, at a random place, is
greyed out; the encoder sees the rest, the pixel decoder predicts the whole line, and the loss is the
pixel error inside the span plus ``adversarial`` times the generator's loss of a patch discriminator
shown the line with the span filled in (the paper's weights: 0.999 and 0.001, here 1 and 0.001). The
discriminator has its own optimizer (``discriminator``), stepped before the encoder's and decoder's
(``main``); both are in the checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.config import at_least, fraction
from textssl.methods.pretext import GenerativeMethod, GenerativeOptions, pool_content, uniform_int


@dataclass(kw_only=True)
class InpaintingOptions(GenerativeOptions):
    region: float = fraction(0.25, "part of the content width erased (full height)")
    adversarial: float = at_least(0.001, 0.0, "weight of the adversarial loss (0: none, no discriminator)")


def erased_span(widths: torch.Tensor, shape: torch.Size, region: float, generator=None) -> torch.Tensor:
    """float [B, 1, H, W]: 1 on a span of round(region x content width) columns (at least one) inside each
    image's content, at a uniformly drawn place."""
    b, _, h, w = shape
    span = (widths.float() * region).round().long().clamp(1, w)
    start = uniform_int(torch.zeros_like(span), (widths.clamp(max=w) - span).clamp(min=0), generator)
    x = torch.arange(w, device=widths.device)
    inside = (x >= start.unsqueeze(1)) & (x < (start + span).unsqueeze(1))
    return inside.float().view(b, 1, 1, w).expand(b, 1, h, w)


class Inpainting(GenerativeMethod):
    Options = InpaintingOptions
    preview_titles = ("erased input", "filled in")

    def generate(self, batch, generator=None):
        clean = batch.views[0]
        region = erased_span(batch.widths, clean.shape, self.options.region, generator)
        inputs = torch.where(region.bool(), torch.full_like(clean, 0.5), clean)
        seq = self.backbone(inputs)
        output = self.decoder(seq, clean.shape[-1])
        filled = region * output + (1 - region) * clean
        return (inputs, filled, clean, region, pool_content(seq, batch.widths, self.backbone.width_stride))
