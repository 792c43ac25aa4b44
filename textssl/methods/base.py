"""The small base of every SSL method: a backbone, an instance mapping and a loss over views."""
from __future__ import annotations

import torch
from torch import nn

from textssl.errors import UserError
from textssl.methods.mapping import MAPPINGS, map_instances
from textssl.models.crnn import PretrainBackbone


class SSLMethod(nn.Module):
    """Subclasses set ``default_mapping``, build their heads and implement ``forward``.

    forward(views) takes a list of float views [B, C, H, W] and returns (loss, embeddings), the
    embeddings [N, d] being the projected instances of the first view (for the collapse indicator).
    """

    default_mapping = "all"

    def __init__(self, backbone: PretrainBackbone, *, mapping: str | None = None, windows: int = 5,
                 head: str = "mlp", proj_dim: int = 128, hidden_dim: int = 256, temperature: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.mapping = mapping or self.default_mapping
        if self.mapping not in MAPPINGS:
            raise UserError(f"unknown instance mapping '{self.mapping}': use {', '.join(MAPPINGS)}")
        self.windows, self.head, self.temperature = windows, head, temperature
        self.proj_dim, self.hidden_dim = proj_dim, hidden_dim

    def projected_instances(self, images: torch.Tensor, projector: nn.Module) -> torch.Tensor:
        """float images [B, C, H, W] -> projected instances [B * T', d], instance-major within each image.

        A sequence head (BiLSTM) runs over the backbone's frames before the mapping; a per-instance
        head (MLP) after it.
        """
        seq = self.backbone(images)
        if getattr(projector, "over_sequence", False):
            return map_instances(projector(seq), self.mapping, self.windows).flatten(0, 1)
        return projector(map_instances(seq, self.mapping, self.windows)).flatten(0, 1)

    def forward(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError
