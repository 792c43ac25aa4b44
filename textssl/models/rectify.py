"""A thin-plate-spline (TPS) spatial transformer that rectifies text images before the encoder.

This is the rectification stage of RARE (Shi et al. 2016), with the grid math of TRBA's
``TPS_SpatialTransformerNetwork`` (Baek et al. 2019) as the reference. A localization network
looks at a downsampled copy of the image [B, C, H, W] and predicts F control points C' [B, F, 2]
in the input image; the TPS that carries the base fiducials C [F, 2] of the output onto C' gives,
for every output pixel, where to sample the input: a grid [B, H, W, 2] for ``F.grid_sample``.
The output has the input's shape [B, C, H, W].

Coordinates are normalised to [-1, 1] with ``align_corners=False``: the output grid is the pixel
centres, so an untrained rectifier (C' = C) is the identity. The base fiducials lie F/2 on a top
line and F/2 on a bottom line, x evenly spaced, as in TRBA, but inset by a margin as in ASTER
(Shi et al. 2018): the control points come out of a tanh, which cannot reach +-1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from textssl.errors import UserError

FIDUCIAL_EXTENT = 0.9  # base fiducials at x, y in [-0.9, 0.9]; atanh(0.9) = 1.47 keeps tanh's slope at 0.19
LOCALIZATION_SIZE = (16, 64)  # height, width of the copy the localization network sees


def base_fiducials(fiducials: int) -> torch.Tensor:
    """C [F, 2] as (x, y): F/2 points along the top (y = -extent), then F/2 along the bottom."""
    if fiducials < 4 or fiducials % 2:
        raise UserError(f"the TPS needs an even number of fiducial points, at least 4 (got {fiducials})")
    x = torch.linspace(-FIDUCIAL_EXTENT, FIDUCIAL_EXTENT, fiducials // 2, dtype=torch.float64)
    top = torch.stack([x, torch.full_like(x, -FIDUCIAL_EXTENT)], dim=1)
    bottom = torch.stack([x, torch.full_like(x, FIDUCIAL_EXTENT)], dim=1)
    return torch.cat([top, bottom])


def _radial_basis(points: torch.Tensor, fiducials: torch.Tensor) -> torch.Tensor:
    """U(r) = r^2 log r between every point [N, 2] and every fiducial [F, 2], with U(0) = 0."""
    squared = torch.cdist(points, fiducials).square()
    return 0.5 * squared * torch.log(squared.clamp_min(1e-30))


def tps_matrices(fiducials: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """delta_C_inv [F+3, F+3] and P_hat [H*W, F+3] for base fiducials C [F, 2] and an H x W output."""
    count = len(fiducials)
    ones, zeros = torch.ones(count, 1, dtype=fiducials.dtype), torch.zeros(3, 3, dtype=fiducials.dtype)
    delta_c = torch.cat([
        torch.cat([ones, fiducials, _radial_basis(fiducials, fiducials)], dim=1),
        torch.cat([zeros, torch.cat([ones, fiducials], dim=1).T], dim=1),
    ])
    # Pixel centres in align_corners=False coordinates, row-major as grid_sample reads them.
    xs = (torch.arange(width, dtype=fiducials.dtype) * 2 + 1) / width - 1
    ys = (torch.arange(height, dtype=fiducials.dtype) * 2 + 1) / height - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)
    p_hat = torch.cat([torch.ones(len(points), 1, dtype=points.dtype), points,
                       _radial_basis(points, fiducials)], dim=1)
    return torch.linalg.inv(delta_c), p_hat


def _conv_block(cin: int, cout: int, pool: bool) -> list[nn.Module]:
    block = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return block + [nn.MaxPool2d(2, ceil_mode=True)] if pool else block


class TPSRectifier(nn.Module):
    """images [B, C, H, W] in [0, 1] -> rectified images [B, C, H, W]; H and W are fixed at build."""

    def __init__(self, in_channels: int, height: int, width: int, fiducials: int = 20):
        super().__init__()
        self.height, self.width, self.fiducials = height, width, fiducials
        self.localization_size = (min(height, LOCALIZATION_SIZE[0]), min(width, LOCALIZATION_SIZE[1]))
        # A fixed-size AvgPool rather than AdaptiveAvgPool2d: its ONNX ReduceMean stops the exporter's
        # conversion to opset 17.
        pooled_size = tuple(math.ceil(math.ceil(size / 2) / 2) for size in self.localization_size)
        self.localization = nn.Sequential(
            *_conv_block(in_channels, 32, pool=True), *_conv_block(32, 64, pool=True),
            *_conv_block(64, 128, pool=False), nn.AvgPool2d(pooled_size), nn.Flatten(),
            nn.Linear(128, 128), nn.ReLU(inplace=True), nn.Linear(128, 2 * fiducials),
        )
        base = base_fiducials(fiducials)
        control_points = self.localization[-1]
        nn.init.zeros_(control_points.weight)
        with torch.no_grad():
            control_points.bias.copy_(torch.atanh(base).reshape(-1))
        delta_c_inv, p_hat = tps_matrices(base, height, width)
        self.register_buffer("base_fiducials", base.float())
        self.register_buffer("delta_c_inv", delta_c_inv.float())
        self.register_buffer("p_hat", p_hat.float())
        self.register_buffer("output_grid", p_hat[:, 1:3].float())  # P [H*W, 2]: the pixel centres

    def control_points(self, images: torch.Tensor) -> torch.Tensor:
        """C' [B, F, 2]: where in the input image each base fiducial is taken from."""
        small = F.interpolate(images, size=self.localization_size, mode="bilinear", align_corners=False)
        return torch.tanh(self.localization(small)).view(-1, self.fiducials, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != (self.height, self.width):
            raise UserError(f"image size {images.shape[-2]}x{images.shape[-1]} (HxW) differs from the rectifier's "
                            f"{self.height}x{self.width}: use the same --height/--width as the model was built with")
        images = images.to(self.localization[0].weight.dtype)
        control = self.control_points(images)
        # P' = P_hat delta_C_inv [C'; 0] = P + P_hat delta_C_inv [C' - C; 0], since the TPS of C' = C
        # is the identity; the second form keeps float32 rounding from moving an untrained grid.
        offsets = control - self.base_fiducials
        padded = torch.cat([offsets, offsets.new_zeros(offsets.shape[0], 3, 2)], dim=1)
        transform = self.delta_c_inv @ padded  # T [B, F+3, 2]
        grid = (self.output_grid + self.p_hat @ transform).view(-1, self.height, self.width, 2)  # P' [B, H, W, 2]
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
