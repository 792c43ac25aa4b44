"""Reconstruction losses of masked image modelling, as pure functions."""
from __future__ import annotations

from torch import Tensor


def normalized_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Each patch's pixels minus their mean, over their standard deviation (MAE's normalised-pixel
    target). patches: [B, N, P] -> [B, N, P]."""
    mean = patches.mean(-1, keepdim=True)
    var = patches.var(-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + eps).sqrt()


def masked_patch_loss(prediction: Tensor, target: Tensor, mask: Tensor, kind: str = "mse") -> Tensor:
    """The mean over masked patches of the mean squared (``mse``) or absolute (``l1``) pixel error.

    prediction, target: [B, N, P] (P pixels per patch); mask: bool [B, N], True = masked: only those
    patches count, so a prediction of a visible or padding patch does not change the loss. 0 when
    nothing is masked.
    """
    error = (prediction - target).float()
    per_patch = (error.pow(2) if kind == "mse" else error.abs()).mean(-1)  # [B, N]
    weights = mask.float()
    return (per_patch * weights).sum() / weights.sum().clamp_min(1.0)


def weighted_pixel_loss(prediction: Tensor, target: Tensor, weight: Tensor, kind: str = "mse") -> Tensor:
    """The mean squared (``mse``) or absolute (``l1``) pixel error over the pixels ``weight`` counts.

    prediction, target: [B, C, H, W]; weight: [B, 1, H, W] (0 / 1, or soft), the same for every channel:
    e.g. the content columns of each image (padding not counted) or an erased region. 0 when it
    counts nothing.
    """
    error = (prediction - target).float()
    per_pixel = (error.pow(2) if kind == "mse" else error.abs()).mean(1, keepdim=True)  # [B, 1, H, W]
    weight = weight.float()
    return (per_pixel * weight).sum() / weight.sum().clamp_min(1e-8)
