"""The CRNN's CNN: four conv-BN-ReLU blocks, pooled to H / 8 and W / 4, each column flattened and
projected: images [B, C, H, W] in [0, 1] -> feature sequence [B, W / 4, dim]."""
from __future__ import annotations

import torch
from torch import nn

from textssl.models.assembly import check_image_size


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CNNEncoder(nn.Module):
    width_stride = 4  # the two 2x2 poolings

    def __init__(self, *, in_channels: int = 1, height: int = 32, width: int = 128,
                 channels: tuple[int, ...] = (16, 32, 64, 128), dim: int = 128):
        super().__init__()
        self.check_size(height, width)
        c1, c2, c3, c4 = channels
        self.cnn = nn.Sequential(
            *_conv(in_channels, c1), nn.MaxPool2d(2, 2),
            *_conv(c1, c2), nn.MaxPool2d(2, 2),
            *_conv(c2, c3), nn.MaxPool2d((2, 1), (2, 1)),
            *_conv(c3, c4),
        )
        self.cnn.to(memory_format=torch.channels_last)  # several times faster convolutions and pooling on CPU
        self.proj = nn.Linear(c4 * (height // 8), dim)
        self.dim = dim

    @staticmethod
    def check_size(height: int, width: int) -> None:
        check_image_size("cnn", height, width)

    def frames(self, width: int) -> int:
        return width // self.width_stride

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.proj.weight.dtype)  # float32 views into a model of --precision *-true
        x = self.cnn((images * 2.0 - 1.0).contiguous(memory_format=torch.channels_last))  # [B, C', H/8, W/4]
        x = x.permute(0, 3, 1, 2).flatten(2)  # [B, T, C' * H/8]
        return self.proj(x)
