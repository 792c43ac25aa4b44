"""The small base of every SSL method: a backbone, an instance mapping and a loss over views."""
from __future__ import annotations

import torch
from torch import nn

from textssl.errors import UserError
from textssl.methods import MAPPINGS
from textssl.methods.mapping import map_instances
from textssl.models.recognizer import PretrainBackbone


class SSLMethod(nn.Module):
    """Subclasses set ``default_mapping``, build their heads and implement ``forward``.

    forward(views, widths=None) takes a list of float views [B, C, H, W] and each image's content
    width in pixels (int [B], or None for all) and returns (loss, embeddings), the embeddings [N, d] being the
    projected instances of the first view (for the collapse indicator).
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

    def projected_instances(self, images: torch.Tensor, projector: nn.Module,
                            widths: torch.Tensor | None = None) -> torch.Tensor:
        """float images [B, C, H, W] -> projected instances [N, d], instance-major within each image;
        N = B * T', fewer with the frame mapping where ``widths`` (each image's content width in
        pixels [B], or None) leave padding frames out.

        A sequence head (BiLSTM) runs over the backbone's frames before the mapping; a per-instance
        head (MLP) after it.
        """
        seq = self.backbone(images)
        lengths = None if widths is None else torch.div(widths + self.backbone.width_stride - 1,
                                                        self.backbone.width_stride, rounding_mode="floor")
        over_sequence = getattr(projector, "over_sequence", False)
        instances, mask = map_instances(projector(seq) if over_sequence else seq, self.mapping, self.windows, lengths)
        instances = instances.flatten(0, 1) if mask is None else instances[mask]
        return instances if over_sequence else projector(instances)

    def forward(self, views: list[torch.Tensor], widths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError
