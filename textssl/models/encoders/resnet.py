"""A ResNet text backbone of the kind scene-text recognizers use (ASTER / TRBA style).

A 3x3 stem conv, then four stages of residual BasicBlocks whose first blocks downsample with strides
(2, 2), (2, 2), (2, 1), (2, 1): images [B, C, H, W] in [0, 1] become maps [B, C', H / 16, W / 4], whose
remaining height is averaged away before a Linear to ``dim``: a feature sequence [B, W / 4, dim],
one frame per 4 pixels of width.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from textssl.errors import UserError
from textssl.models.assembly import SIZE_MULTIPLES, check_image_size

STAGE_STRIDES = ((2, 2), (2, 2), (2, 1), (2, 1))
HEIGHT_STRIDE, WIDTH_STRIDE = SIZE_MULTIPLES["resnet"]


def _conv_bn(cin: int, cout: int, kernel: int, stride: tuple[int, int] = (1, 1)) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout)]


class BasicBlock(nn.Module):
    """relu(conv3x3-BN-ReLU-conv3x3-BN(x) + shortcut(x)): [B, cin, H, W] -> [B, cout, H / s_h, W / s_w]."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int] = (1, 1)):
        super().__init__()
        self.residual = nn.Sequential(*_conv_bn(cin, cout, 3, stride), nn.ReLU(inplace=True), *_conv_bn(cout, cout, 3))
        needs_projection = cin != cout or stride != (1, 1)
        self.shortcut = nn.Sequential(*_conv_bn(cin, cout, 1, stride)) if needs_projection else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """Images [B, C, H, W] in [0, 1] -> feature sequence [B, W / 4, dim]; H a multiple of 16, W of 4."""

    width_stride = WIDTH_STRIDE

    def __init__(self, *, in_channels: int = 1, height: int = 32, width: int = 128,
                 channels: Sequence[int] = (32, 64, 128, 256), blocks: Sequence[int] = (1, 2, 2, 1), dim: int = 256):
        super().__init__()
        if len(channels) != len(STAGE_STRIDES) or len(blocks) != len(STAGE_STRIDES):
            raise UserError(f"resnet encoder: channels {list(channels)} and blocks {list(blocks)} must name "
                            f"{len(STAGE_STRIDES)} stages")
        self.check_size(height, width)
        self.in_channels = in_channels
        self.dim = dim
        layers: list[nn.Module] = [*_conv_bn(in_channels, channels[0], 3), nn.ReLU(inplace=True)]
        cin = channels[0]
        for cout, count, stride in zip(channels, blocks, STAGE_STRIDES):
            layers += [BasicBlock(cin if i == 0 else cout, cout, stride if i == 0 else (1, 1)) for i in range(count)]
            cin = cout
        self.body = nn.Sequential(*layers)
        for module in self.body.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        self.body.to(memory_format=torch.channels_last)  # several times faster convolutions on CPU
        self.proj = nn.Linear(cin, dim)

    @staticmethod
    def check_size(height: int, width: int) -> None:
        """Raise UserError unless images of height x width pixels fit the strides (H / 16, W / 4 whole)."""
        check_image_size("resnet", height, width)

    def frames(self, width: int) -> int:
        """T, the number of output frames for images ``width`` pixels wide."""
        return width // WIDTH_STRIDE

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] in [0, 1] -> feature sequence [B, W / 4, dim]."""
        self.check_size(images.shape[-2], images.shape[-1])
        images = images.to(self.proj.weight.dtype)  # float32 views into a model of another precision
        x = self.body((images * 2.0 - 1.0).contiguous(memory_format=torch.channels_last))  # [B, C', H / 16, W / 4]
        return self.proj(x.mean(2).transpose(1, 2))

