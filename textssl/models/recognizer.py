"""A recognizer built from its assembly: [rectifier] -> encoder -> sequence model -> decoder.

Weights keep one layout for every assembly: ``rectifier.*``, ``encoder.*``, ``sequence.*``,
``decoder.*``. Run directories written before assemblies named the CTC head ``head.*``;
``upgrade_weights`` renames it.
"""
from __future__ import annotations

import torch
from torch import nn

from textssl.data.charset import Charset
from textssl.errors import UserError
from textssl.models import FEATURES
from textssl.models.assembly import Assembly
from textssl.models.sequence import SEQUENCE_MODELS


def build_encoder(assembly: Assembly) -> nn.Module:
    size = {"in_channels": assembly.in_channels, "height": assembly.height, "width": assembly.width}
    if assembly.encoder == "cnn":
        from textssl.models.encoders.cnn import CNNEncoder as encoder
    elif assembly.encoder == "resnet":
        from textssl.models.encoders.resnet import ResNetEncoder as encoder
    else:
        from textssl.models.encoders.vit import ViTEncoder as encoder
    return encoder(**size, **assembly.encoder_options)


def build_decoder(assembly: Assembly, charset: Charset, dim_in: int) -> nn.Module:
    if assembly.decoder == "ctc":
        from textssl.models.decoders.ctc import CTCDecoder
        return CTCDecoder(charset, dim_in)
    if assembly.decoder == "attention":
        from textssl.models.decoders.attention import AttentionDecoder as decoder
    else:
        from textssl.models.decoders.transformer import TransformerDecoder as decoder
    return decoder(charset, dim_in, **assembly.decoder_options)


class Recognizer(nn.Module):
    """uint8 or [0, 1] images [B, C, H, W] -> logits; ``read`` gives (text, confidence) per image."""

    def __init__(self, assembly: Assembly, charset: Charset):
        super().__init__()
        if assembly.decoder is None:
            raise UserError("a recognizer needs a decoder")
        self.assembly, self.charset = assembly, charset
        self.rectifier = None
        if assembly.rectify == "tps":
            from textssl.models.rectify import TPSRectifier
            self.rectifier = TPSRectifier(assembly.in_channels, assembly.height, assembly.width)
        self.encoder = build_encoder(assembly)
        self.sequence = SEQUENCE_MODELS[assembly.sequence](self.encoder.dim, **assembly.sequence_options)
        self.decoder = build_decoder(assembly, charset, self.sequence.dim)

    @property
    def frames(self) -> int:
        """T, the encoder's frames for the assembly's image width."""
        return self.encoder.frames(self.assembly.width)

    def misfit(self, text: str) -> str:
        """Why the recognizer cannot emit ``text`` ("" when it can)."""
        return self.decoder.misfit(text, self.frames)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] in [0, 1] -> the decoder's input [B, T, D]."""
        if self.rectifier is not None:
            images = self.rectifier(images)
        return self.sequence(self.encoder(images))

    def forward(self, images: torch.Tensor, targets=None) -> torch.Tensor:
        """Images [B, C, H, W] in [0, 1] -> logits; ``targets`` from ``decoder.targets`` for teacher forcing."""
        return self.decoder(self.features(images), targets)

    def loss(self, images: torch.Tensor, labels: list[str]) -> torch.Tensor:
        targets = self.decoder.targets(labels, images.device)
        return self.decoder.loss(self(images, targets), targets)

    def read(self, images: torch.Tensor) -> list[tuple[str, float]]:
        """uint8 images [B, C, H, W] -> (text, confidence) per image."""
        return self.decoder.decode(self(images.float() / 255.0))


class PretrainBackbone(nn.Module):
    """The part of a recognizer that SSL pretrains: the encoder, plus the sequence model for
    ``contextual`` features. [B, C, H, W] in [0, 1] -> [B, T, dim]."""

    def __init__(self, assembly: Assembly, features: str = "visual"):
        super().__init__()
        if features not in FEATURES:
            raise UserError(f"unknown --features '{features}': use {' or '.join(FEATURES)}")
        self.assembly, self.features = assembly, features
        self.encoder = build_encoder(assembly)
        self.sequence = None
        if features == "contextual":
            self.sequence = SEQUENCE_MODELS[assembly.sequence](self.encoder.dim, **assembly.sequence_options)
        self.dim = self.sequence.dim if self.sequence is not None else self.encoder.dim
        self.width_stride = self.encoder.width_stride

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        visual = self.encoder(images)
        return visual if self.sequence is None else self.sequence(visual)


def upgrade_weights(weights: dict) -> dict:
    """Weights of a run written before assemblies (its CTC head as ``head.*``) in today's layout."""
    return {("decoder." + k if k.startswith("head.") else k): v for k, v in weights.items()}
