"""Instance mappings: turn an encoder's feature sequence into the units an SSL objective
compares (docs/DESIGN.md, "One idea that unifies the methods").

With ``lengths`` (each image's frames that hold its own content, the rest being padding), the
mappings use those frames only: ``all`` averages them, ``window`` pools them into the windows
and ``frame`` marks the padding frames as no instance.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from textssl.errors import UserError
from textssl.methods import MAPPINGS


def window_weights(lengths: Tensor, frames: int, windows: int) -> Tensor:
    """[B, windows, frames] averaging weights: window j of image i averages its frames
    floor(j L_i / n) .. ceil((j + 1) L_i / n) - 1 (adaptive average pooling over its L_i frames)."""
    j = torch.arange(windows, device=lengths.device)
    lengths = lengths.view(-1, 1)
    start = torch.div(j * lengths, windows, rounding_mode="floor")  # [B, n]
    end = torch.div((j + 1) * lengths + windows - 1, windows, rounding_mode="floor")
    t = torch.arange(frames, device=lengths.device)
    inside = (t >= start[..., None]) & (t < end[..., None])  # [B, n, T]
    return inside.float() / inside.sum(-1, keepdim=True)


def map_instances(seq: Tensor, mapping: str, windows: int = 5,
                  lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Map a feature sequence to instances.

    seq: [B, T, D]; lengths: int [B] in 1..T, or None for all T frames. Returns (instances, mask):
      all    -> [B, 1, D]        mean over the frames
      frame  -> [B, T, D]        every frame is an instance; mask bool [B, T] marks the content frames
      window -> [B, windows, D]  adaptive average pooling over the frames
    The mask is None where every instance counts.
    """
    if mapping not in MAPPINGS:
        raise UserError(f"unknown instance mapping '{mapping}': use all, frame or window")
    if mapping == "window" and windows < 1:
        raise UserError(f"windows must be at least 1, got {windows}")
    b, t, _ = seq.shape
    if lengths is None or bool((lengths >= t).all()):
        if mapping == "all":
            return seq.mean(dim=1, keepdim=True), None
        if mapping == "frame":
            return seq, None
        return F.adaptive_avg_pool1d(seq.transpose(1, 2), windows).transpose(1, 2), None
    lengths = lengths.clamp(1, t)
    if mapping == "frame":
        return seq, torch.arange(t, device=seq.device) < lengths.view(-1, 1)
    weights = window_weights(lengths, t, 1 if mapping == "all" else windows).to(seq.dtype)
    return weights @ seq, None
