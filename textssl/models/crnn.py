"""CRNN: a CNN feature-sequence encoder, a BiLSTM sequence model and a CTC head.

The encoder maps images [B, C, H, W] to visual features V [B, T, D] (one frame per 4 pixels of
width); the sequence model turns V into contextual features H = BiLSTM(V) + W V [B, T, 2 * hidden];
the CTC head maps H to per-frame class logits [B, T, K] with the blank at index 0.

The linear shortcut W V around the BiLSTM gives the CTC head a direct path to the CNN. Without
it, CTC training of this model sat on its all-blank plateau for more than 1,200 steps on
captchas (batch 64, 10k labels, AdamW at 1e-3 or 3e-3, dropout 0 or 0.2); with it, the plateau
ends after ~250 steps and validation word accuracy is 0.76 at step 800.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from textssl.errors import UserError
from textssl.models import FEATURES, MODEL_SIZES


@dataclass
class ModelConfig:
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    dim: int = 128
    hidden: int = 128
    layers: int = 2
    in_channels: int = 1
    height: int = 32
    dropout: float = 0.2  # between the BiLSTM layers and before the CTC head
    shortcut: bool = True  # H = BiLSTM(V) + W V; False: the classic CRNN, H = BiLSTM(V)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, run) -> ModelConfig:
        try:
            return cls(**values)
        except TypeError:
            raise UserError(f"{run}: config.json's 'model' entry is not a CRNN configuration") from None


SIZES = dict(zip(MODEL_SIZES, (ModelConfig(), ModelConfig(channels=[32, 64, 128, 256], dim=256, hidden=256))))


def model_config(size: str = "small", in_channels: int = 1, height: int = 32, shortcut: bool = True) -> ModelConfig:
    if size not in SIZES:
        raise UserError(f"unknown model size '{size}': use {', '.join(SIZES)}")
    if height % 8:
        raise UserError(f"image height {height} must be a multiple of 8")
    return dataclasses.replace(SIZES[size], channels=list(SIZES[size].channels), in_channels=in_channels,
                               height=height, shortcut=shortcut)


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class FeatureSequenceEncoder(nn.Module):
    """Images [B, C, H, W] in [0, 1] -> visual features V [B, W / 4, dim]."""

    width_stride = 4  # the two 2x2 poolings
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c1, c2, c3, c4 = cfg.channels
        self.cnn = nn.Sequential(
            *_conv(cfg.in_channels, c1), nn.MaxPool2d(2, 2),
            *_conv(c1, c2), nn.MaxPool2d(2, 2),
            *_conv(c2, c3), nn.MaxPool2d((2, 1), (2, 1)),
            *_conv(c3, c4),
        )
        self.cnn.to(memory_format=torch.channels_last)  # several times faster convolutions and pooling on CPU
        self.proj = nn.Linear(c4 * (cfg.height // 8), cfg.dim)
        self.dim = cfg.dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.proj.weight.dtype)  # float32 views into a model of --precision *-true
        x = self.cnn((images * 2.0 - 1.0).contiguous(memory_format=torch.channels_last))  # [B, C', H/8, W/4]
        x = x.permute(0, 3, 1, 2).flatten(2)  # [B, T, C' * H/8]
        return self.proj(x)


class SequenceModel(nn.Module):
    """Visual features V [B, T, D] -> contextual features BiLSTM(V) + W V [B, T, 2 * hidden]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.lstm = nn.LSTM(cfg.dim, cfg.hidden, num_layers=cfg.layers, batch_first=True, bidirectional=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.shortcut = nn.Linear(cfg.dim, 2 * cfg.hidden) if cfg.shortcut else None
        self.dropout = nn.Dropout(cfg.dropout)
        self.dim = 2 * cfg.hidden

    def forward(self, visual: torch.Tensor) -> torch.Tensor:
        contextual = self.lstm(visual)[0]
        return self.dropout(contextual if self.shortcut is None else contextual + self.shortcut(visual))


class Recognizer(nn.Module):
    """encoder -> sequence model -> CTC head; ``forward`` returns logits [B, T, num_classes]."""

    def __init__(self, cfg: ModelConfig, num_classes: int):
        super().__init__()
        self.cfg = cfg
        self.encoder = FeatureSequenceEncoder(cfg)
        self.sequence = SequenceModel(cfg)
        self.head = nn.Linear(self.sequence.dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.sequence(self.encoder(images)))

    def frames(self, spec) -> int:
        """T, the number of CTC frames for images of ``spec`` (an ImageSpec)."""
        return spec.width // self.encoder.width_stride


class PretrainBackbone(nn.Module):
    """The part of a recognizer that SSL pretrains: the encoder, plus the BiLSTM for contextual features."""

    def __init__(self, cfg: ModelConfig, features: str = "visual"):
        super().__init__()
        if features not in FEATURES:
            raise UserError(f"unknown --features '{features}': use {' or '.join(FEATURES)}")
        self.features = features
        self.encoder = FeatureSequenceEncoder(cfg)
        self.sequence = SequenceModel(cfg) if features == "contextual" else None
        self.dim = self.sequence.dim if self.sequence is not None else self.encoder.dim
        self.width_stride = self.encoder.width_stride

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        visual = self.encoder(images)
        return visual if self.sequence is None else self.sequence(visual)
