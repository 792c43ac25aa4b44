"""Instance mappings: turn an encoder's feature sequence into the units an SSL objective
compares (see DESIGN.md, "One idea that unifies the methods")."""

import torch.nn.functional as F
from torch import Tensor

from textssl.errors import UserError

MAPPINGS = ("all", "frame", "window")


def map_instances(seq: Tensor, mapping: str, windows: int = 5) -> Tensor:
    """Map a feature sequence to instances.

    seq: [B, T, D]. Returns
      all    -> [B, 1, D]        mean over T
      frame  -> [B, T, D]        every frame is an instance
      window -> [B, windows, D]  adaptive average pooling over T
    """
    if mapping == "all":
        return seq.mean(dim=1, keepdim=True)
    if mapping == "frame":
        return seq
    if mapping == "window":
        if windows < 1:
            raise UserError(f"windows must be at least 1, got {windows}")
        return F.adaptive_avg_pool1d(seq.transpose(1, 2), windows).transpose(1, 2)
    raise UserError(f"unknown instance mapping '{mapping}': use all, frame or window")
