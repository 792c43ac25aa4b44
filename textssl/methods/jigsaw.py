"""Jigsaw (Noroozi & Favaro 2016) along the width of a line.

Each augmented view's content is stretched to the image width and cut into ``strips`` cells side by
side; a tile of the cell's width less ``gap`` pixels is taken at a random place in each cell, at
least a quarter of the gap from the cell's edges (so that at least half the gap lies between two
tiles and no stroke continues from one tile to the next), and the tiles are put in the order of one of
``permutations`` permutations, chosen once for the largest minimal Hamming distance between them.
Each tile goes through the encoder alone; a classifier on their pooled features, in the shuffled
order, names the permutation.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn

from textssl.config import at_least, within
from textssl.errors import UserError
from textssl.methods.swav import resampled_span
from textssl.methods.pretext import PretextMethod, PretextOptions, pooled_features, uniform_int
from textssl.models.heads import MLPHead


@dataclass(kw_only=True)
class JigsawOptions(PretextOptions):
    strips: int = within(4, 2, 7, "tiles per line")
    permutations: int = at_least(12, 2, "permutations told apart, at most strips! (12 of 4 strips: none closer "
                                        "than 3 to another)")
    gap: int = at_least(4, 0, "pixels of each cell left out of its tile")


def max_hamming_permutations(k: int, count: int) -> torch.Tensor:
    """``count`` permutations of 0..k-1 [count, k], from the identity on, each the first (in lexicographic
    order) of those whose smallest Hamming distance to the ones already chosen is the largest."""
    if count > math.factorial(k):
        raise UserError(f"--permutations {count}: {k} strips have only {math.factorial(k)}")
    every = torch.tensor(list(itertools.permutations(range(k))))
    chosen = [0]
    nearest = (every != every[0]).sum(1)  # each permutation's distance to the nearest chosen one
    for _ in range(count - 1):
        best = int(nearest.argmax())  # argmax returns the first of equal maxima
        chosen.append(best)
        nearest = torch.minimum(nearest, (every != every[best]).sum(1))
    return every[chosen]


def stretched(images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """Each image's content (its first ``widths[b]`` columns) resampled to the whole width [B, C, H, W]."""
    if bool((widths >= images.shape[-1]).all()):
        return images
    span = widths.to(images.dtype)
    return resampled_span(images, torch.zeros_like(span), span, images.shape[-1])


def cut_tiles(images: torch.Tensor, strips: int, tile: int, generator=None) -> torch.Tensor:
    """``strips`` tiles of ``tile`` columns [B, strips, C, H, tile], tile i at a random place in cell i
    (cells of W // strips columns, left to right), at least a quarter of the spare columns from each
    edge of its cell."""
    b, c, h, w = images.shape
    cell = w // strips
    margin = -(-(cell - tile) // 4)  # ceil
    low = torch.full((b * strips,), margin, dtype=torch.long, device=images.device)
    starts = uniform_int(low, low + cell - tile - 2 * margin, generator).view(b, strips)
    starts = starts + cell * torch.arange(strips, device=images.device)
    columns = starts.unsqueeze(-1) + torch.arange(tile, device=images.device)          # [B, strips, tile]
    index = columns.view(b, 1, 1, strips * tile).expand(b, c, h, strips * tile)
    return images.gather(-1, index).view(b, c, h, strips, tile).permute(0, 3, 1, 2, 4)


class Jigsaw(PretextMethod):
    Options = JigsawOptions

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        o = self.options
        self.register_buffer("orders", max_hamming_permutations(o.strips, o.permutations), persistent=False)
        self.tile_features = nn.Sequential(nn.Linear(backbone.dim, 128), nn.ReLU(inplace=True))
        self.classifier = MLPHead([o.strips * 128, o.hidden_dim, o.permutations])

    def tile_width(self, width: int) -> int:
        stride = self.backbone.width_stride
        return (width // self.options.strips - self.options.gap) // stride * stride

    def check_frames(self, frames, width):
        if self.tile_width(width) < self.backbone.width_stride:
            return (f"--strips {self.options.strips} with --gap {self.options.gap}: tiles narrower than one frame "
                    f"at width {width}; give fewer --strips or a smaller --gap")
        return None

    def task(self, batch, generator=None):
        images, widths = batch.views[0], batch.widths
        b, k = len(images), self.options.strips
        tiles = cut_tiles(stretched(images, widths), k, self.tile_width(images.shape[-1]), generator)
        targets = torch.randint(len(self.orders), (b,), device=images.device, generator=generator)
        order = self.orders[targets]                                                    # [B, k]
        return tiles[torch.arange(b, device=images.device).unsqueeze(1), order], targets

    def classify(self, tiles):
        b, k = tiles.shape[:2]
        features = pooled_features(self.backbone, tiles.flatten(0, 1))                  # [B * k, D]
        return self.classifier(self.tile_features(features).view(b, -1)), features

    def shown(self, tiles):
        b, k, c, h, _ = tiles.shape
        gap = torch.ones(b, k, c, h, 3, device=tiles.device, dtype=tiles.dtype)
        return torch.cat([tiles, gap], -1).permute(0, 2, 3, 1, 4).reshape(b, c, h, -1)

    def caption(self, target):
        return "order " + "".join(str(int(i) + 1) for i in self.orders[target])
