"""The small base of every SSL method: a backbone, an instance mapping and a loss over views."""
from __future__ import annotations

import torch
from torch import nn

from textssl.methods.mapping import map_instances
from textssl.models.crnn import PretrainBackbone


class SSLMethod(nn.Module):
    """Subclasses set ``default_mapping``, build their heads and implement ``forward``.

    forward(views) takes a list of float views [B, C, H, W] and returns (loss, embeddings), the
    embeddings [N, d] being the instances the objective compared (for the collapse indicator).
    """

    default_mapping = "all"

    def __init__(self, backbone: PretrainBackbone, *, mapping: str | None = None, windows: int = 5,
                 head: str = "mlp", proj_dim: int = 128, hidden_dim: int = 256, temperature: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.mapping = mapping or self.default_mapping
        self.windows, self.head, self.temperature = windows, head, temperature
        self.proj_dim, self.hidden_dim = proj_dim, hidden_dim
        map_instances(torch.zeros(1, 1, 1), self.mapping, windows)  # validates the options early

    def instances(self, images: torch.Tensor) -> torch.Tensor:
        """float images [B, C, H, W] -> instances [B, T', D] of the backbone's feature sequence."""
        return map_instances(self.backbone(images), self.mapping, self.windows)

    def forward(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError
