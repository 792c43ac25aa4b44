"""Patch masks for masked image modelling, drawn in batches on the images' device.

A mask is bool [B, N] over the patch grid (gh, gw) in row-major order (token n = row * gw + col, as
``ViTEncoder.patchify``), True = masked. Only patches of the content are masked: ``valid_columns``
[B] says how many grid columns of each image hold content (the rest is padding), and each image
masks ``round(ratio * its content patches)`` of them, so padding is never a reconstruction target.

- ``random``: patches drawn uniformly (MAE);
- ``block``: rectangles of patches (BEiT / SimMIM style), topped up or trimmed at random to the
  exact count;
- ``column``: whole columns of the grid (characters hidden, the line's style kept); the count is
  rounded to whole columns, so the ratio holds to within one column.
"""
from __future__ import annotations

import math

import torch

MASKS = ("random", "block", "column")


def valid_columns(widths: torch.Tensor, patch_width: int, columns: int) -> torch.Tensor:
    """Content widths in pixels [B] -> grid columns holding content [B] (a partly covered one counts)."""
    return torch.div(widths + patch_width - 1, patch_width, rounding_mode="floor").clamp(1, columns)


def _top_k(scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """bool [B, N]: per row, the ``counts[b]`` highest scores (scores of -inf are never taken)."""
    order = scores.argsort(dim=1, descending=True)
    ranks = torch.empty_like(order).scatter_(1, order, torch.arange(scores.shape[1], device=scores.device)
                                             .expand_as(order).contiguous())
    return ranks < counts.unsqueeze(1)


def _blocks(batch: int, grid: tuple[int, int], ratio: float, generator, device) -> torch.Tensor:
    """float [B, gh, gw]: 1 inside the union of random rectangles covering about ``ratio`` of the grid."""
    gh, gw = grid
    count = max(1, math.ceil(ratio * gh * gw / 8))  # rectangles of about 8 patches (the scale of a character)
    u = torch.rand(4, batch, count, 1, 1, generator=generator, device=device)
    area = 4 + 12 * u[0]
    aspect = torch.exp((u[1] - 0.5) * 2 * math.log(3))  # height / width between 1/3 and 3
    h = (area * aspect).sqrt().round().clamp(1, gh)
    w = (area / aspect).sqrt().round().clamp(1, gw)
    top, left = (u[2] * (gh - h + 1)).floor(), (u[3] * (gw - w + 1)).floor()
    rows = torch.arange(gh, device=device).view(1, 1, gh, 1)
    cols = torch.arange(gw, device=device).view(1, 1, 1, gw)
    inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
    return inside.any(1).float()


def patch_mask(kind: str, grid: tuple[int, int], ratio: float, valid: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """A mask of ``kind`` over ``grid`` = (gh, gw) for each image; ``valid`` [B]: content columns per
    image (``valid_columns``). -> bool [B, gh * gw], True = masked."""
    if kind not in MASKS:
        raise ValueError(f"unknown mask '{kind}': use {', '.join(MASKS)}")
    gh, gw = grid
    batch, device = valid.shape[0], valid.device
    content = (torch.arange(gw, device=device).unsqueeze(0) < valid.unsqueeze(1))  # [B, gw]
    if kind == "column":
        counts = (ratio * valid).round().long()
        scores = torch.rand(batch, gw, generator=generator, device=device).masked_fill(~content, -math.inf)
        return _top_k(scores, counts).unsqueeze(1).expand(batch, gh, gw).flatten(1)
    counts = (ratio * valid * gh).round().long()
    scores = torch.rand(batch, gh * gw, generator=generator, device=device)
    if kind == "block":  # patches inside a rectangle first, then the others, each group in random order
        scores = scores + _blocks(batch, grid, ratio, generator, device).flatten(1)
    scores = scores.masked_fill(~content.unsqueeze(1).expand(batch, gh, gw).flatten(1), -math.inf)
    return _top_k(scores, counts)


def visible_indices(mask: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The tokens an encoder that sees only unmasked patches (MAE) is given: int64 [B, K], the same K
    for every image. ``mask``, ``content``: bool [B, N] (masked; holds content). Each image keeps its
    unmasked content patches and, where it has fewer than the batch's most, padding patches to fill
    up (an image with less content has more padding, so there are always enough); never a masked one."""
    visible = content & ~mask
    keep = int(visible.sum(1).max())
    scores = torch.rand(mask.shape, device=mask.device) + 2.0 * (~content) + 4.0 * mask  # visible, padding, masked
    return scores.argsort(dim=1)[:, :keep].sort(dim=1).values
