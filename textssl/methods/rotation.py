"""Rotation prediction (Gidaris et al. 2018), for text lines.

A line turned by 90 degrees is told by its shape alone, so the default task is upright or upside
down (``angles 0,180``): each line's content is turned by 180 degrees with probability 1/2, its
padding left where it is (turning the whole image would move the padding to the left and give the
answer away). The lines are turned before they are augmented (``before_views``): turning an
augmented view would leave the part of the content that the warp moved into the padding unturned,
a seam only turned lines have. ``angles 0,90,180,270`` is the image version: a square crop of the
content (the line's height on each side) turned by a multiple of 90 degrees. A classifier on the
pooled features names the turn.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.config import choice
from textssl.methods.pretext import PretextMethod, PretextOptions, cut, pooled_features, uniform_int
from textssl.models.heads import MLPHead

ANGLES = {"0,180": (0, 180), "0,90,180,270": (0, 90, 180, 270)}


@dataclass(kw_only=True)
class RotationOptions(PretextOptions):
    angles: str = choice("0,180", tuple(ANGLES), "the turns told apart: 0,180 (the whole line) or 0,90,180,270 "
                                                 "(square crops)")


def turn_content(images: torch.Tensor, widths: torch.Tensor, turned: torch.Tensor) -> torch.Tensor:
    """Images [B, C, H, W] with the content (the first ``widths[b]`` columns) of those where ``turned``
    (bool [B]) rotated by 180 degrees; padding columns and the other images unchanged."""
    w = images.shape[-1]
    x = torch.arange(w, device=images.device)
    inside = x < widths.unsqueeze(1)                                           # [B, W]
    source = torch.where(inside, widths.unsqueeze(1) - 1 - x, x)               # column each output column reads
    flipped = images.flip(-2).gather(-1, source.view(len(images), 1, 1, w).expand_as(images))
    keep = ~(turned.unsqueeze(1) & inside)
    return torch.where(keep.view(len(images), 1, 1, w), images, flipped)


def turn_squares(images: torch.Tensor, widths: torch.Tensor, quarters: torch.Tensor, generator=None) -> torch.Tensor:
    """A square crop (H x H, inside the content where it is wide enough) of each image [B, C, H, W],
    rotated counter-clockwise by ``quarters`` [B] (0..3) quarter turns -> [B, C, H, H]."""
    h, w = images.shape[-2:]
    high = (widths.clamp(max=w) - h).clamp(min=0)
    squares = cut(images, uniform_int(torch.zeros_like(high), high, generator), h)
    turns = torch.stack([squares.rot90(k, (-2, -1)) for k in range(4)], 1)  # [B, 4, C, H, H]
    return turns[torch.arange(len(images), device=images.device), quarters]


class Rotation(PretextMethod):
    Options = RotationOptions

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        self.angles = ANGLES[self.options.angles]
        self.classifier = MLPHead([backbone.dim, self.options.hidden_dim, len(self.angles)])

    def before_views(self, raw, widths):
        """(the images turned, their widths, the turns' classes long [B]), drawn with torch's generator."""
        targets = torch.randint(len(self.angles), (len(raw),), device=raw.device)
        if len(self.angles) == 2:
            return turn_content(raw, widths, targets == 1), widths, targets
        return turn_squares(raw, widths, targets), torch.full_like(widths, raw.shape[-2]), targets

    def task(self, batch, generator=None):
        return (batch.views[0], batch.widths), batch.task

    def classify(self, inputs):
        features = pooled_features(self.backbone, *inputs)
        return self.classifier(features), features

    def shown(self, inputs):
        return inputs[0]

    def caption(self, target):
        return f"{self.angles[target]} degrees"
