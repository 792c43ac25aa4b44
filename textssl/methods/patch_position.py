"""Relative patch position (Doersch et al. 2015) along the width of a line.

Two patches of ``patch_width`` pixels (full height) are cut from one augmented view: the second lies
``k`` patch steps (``patch_width + gap`` pixels each) to the left or right of the first, k in 1 ..
``offsets``, moved by up to ``jitter`` pixels (less than the gap, so that patches never touch), so
that the 2 x offsets classes are told by content and not by edges that continue across the cut.
Lines narrower than a pair needs (``offsets * (patch_width + gap) + jitter + patch_width``) get
patches that reach into their padding, a cue to the answer: the default pair (24 + 6 pixels, 2
steps: 87 pixels) fits the demo's 100-pixel captchas. Both patches go through the encoder; a classifier on
their pooled features, side by side, names the offset.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.config import at_least
from textssl.methods.pretext import PretextMethod, PretextOptions, cut, pooled_features, uniform_int
from textssl.models.heads import MLPHead


@dataclass(kw_only=True)
class PatchPositionOptions(PretextOptions):
    patch_width: int = at_least(24, 4, "width of each patch in pixels (rounded down to the encoder's stride)")
    gap: int = at_least(6, 1, "pixels between neighbouring patch positions")
    jitter: int = at_least(3, 0, "the second patch moves by up to this many pixels either way, less than --gap")
    offsets: int = at_least(2, 1, "patch steps to either side: 2 x offsets classes")


def offset_of(classes: torch.Tensor, offsets: int) -> torch.Tensor:
    """Class [B] in 0 .. 2 * offsets - 1 -> the signed offset in patch steps: -offsets .. -1, then 1 .. offsets."""
    return torch.where(classes < offsets, classes - offsets, classes - offsets + 1)


def pair_positions(widths: torch.Tensor, classes: torch.Tensor, image_width: int, patch: int, step: int,
                   jitter: int, offsets: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(start of the first patch, start of the second) [B] each, in pixels: the second ``offset_of(classes)
    * step`` pixels from the first, plus a jitter in -jitter .. jitter, both patches inside the content
    (inside the image where the content is narrower than the pair needs)."""
    needed = offsets * step + jitter + patch
    space = widths.clamp(min=needed).clamp(max=image_width)
    shift = offset_of(classes, offsets) * step + uniform_int(torch.full_like(widths, -jitter),
                                                            torch.full_like(widths, jitter), generator)
    low = (-shift).clamp(min=0)
    high = space - patch - shift.clamp(min=0)
    first = uniform_int(low, high, generator)
    return first, first + shift


class PatchPosition(PretextMethod):
    Options = PatchPositionOptions

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o, stride = self.options, backbone.width_stride
        self.patch = max(stride, o.patch_width // stride * stride)
        self.classifier = MLPHead([2 * backbone.dim, o.hidden_dim, 2 * o.offsets])

    def check_frames(self, frames, width):
        o = self.options
        if o.jitter >= o.gap:
            return f"--jitter {o.jitter}: the patches would touch or overlap; give less than --gap {o.gap}"
        needed = o.offsets * (self.patch + o.gap) + o.jitter + self.patch
        if needed > width:
            return (f"--offsets {o.offsets} with --patch-width {self.patch} and --gap {o.gap}: a pair needs "
                    f"{needed} pixels, wider than the images' {width}; give a smaller --offsets or --patch-width")
        return None

    def task(self, batch, generator=None):
        o, images, widths = self.options, batch.views[0], batch.widths
        targets = torch.randint(2 * o.offsets, (len(images),), device=images.device, generator=generator)
        first, second = pair_positions(widths, targets, images.shape[-1], self.patch, self.patch + o.gap, o.jitter,
                                       o.offsets, generator)
        return (cut(images, first, self.patch), cut(images, second, self.patch)), targets

    def classify(self, inputs):
        first, second = inputs
        features = pooled_features(self.backbone, torch.cat([first, second]))
        pairs = torch.cat(features.chunk(2), dim=1)
        return self.classifier(pairs), features

    def shown(self, inputs):
        first, second = inputs
        gap = torch.ones_like(first[..., :4])
        return torch.cat([first, gap, second], dim=-1)

    def caption(self, target):
        k = int(offset_of(torch.tensor(target), self.options.offsets))
        return f"{abs(k)} {'right' if k > 0 else 'left'}"
