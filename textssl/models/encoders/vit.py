"""A Vision Transformer for non-square text images (DiG's shape).

Images [B, C, H, W] in [0, 1] are cut into p_h x p_w patches (default 4x4: an 8x32 grid at 32x128),
embedded, given a learned 2-D position embedding and run through pre-norm transformer blocks.
``forward`` averages the token grid [B, H / p_h, W / p_w, D] over its rows: a feature sequence
[B, W / p_w, D], one frame per p_w pixels of width. ``tokens`` (SimMIM masking) and
``visible_tokens`` (MAE's kept tokens) give the per-patch features [B, N, D] that masked image
modelling needs, with N = (H / p_h) * (W / p_w) in row-major order over the grid.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from textssl.errors import UserError


class SelfAttention(nn.Module):
    """Multi-head self-attention: tokens [B, N, D] -> [B, N, D]."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)  # [3, B, heads, N, D / heads]
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).flatten(2))


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + MLP(norm(x)); [B, N, D] -> [B, N, D]."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                                 nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.norm1(x)))
        return x + self.mlp(self.norm2(x))


class ViTEncoder(nn.Module):
    """Images [B, C, H, W] in [0, 1] -> feature sequence [B, W / p_w, dim]; H, W multiples of the patch."""

    def __init__(self, *, in_channels: int = 1, height: int = 32, width: int = 128, patch: tuple[int, int] = (4, 4),
                 depth: int = 12, dim: int = 192, heads: int = 3, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise UserError(f"vit encoder: dim {dim} is not a multiple of its {heads} heads")
        self.patch = (int(patch[0]), int(patch[1]))
        self.in_channels = in_channels
        self.dim = dim
        self.width_stride = self.patch[1]
        self.check_size(height, width)
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=self.patch, stride=self.patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, dim, *self.grid(height, width)))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def check_size(self, height: int, width: int) -> None:
        """Raise UserError unless images of height x width pixels can be cut into whole patches."""
        p_h, p_w = self.patch
        if height < p_h or height % p_h:
            raise UserError(f"--height {height}: the vit encoder needs a height that is a multiple of its "
                            f"patch height {p_h}")
        if width < p_w or width % p_w:
            raise UserError(f"--width {width}: the vit encoder needs a width that is a multiple of its "
                            f"patch width {p_w}")

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """(gh, gw): the patch grid of a height x width image."""
        return height // self.patch[0], width // self.patch[1]

    def frames(self, width: int) -> int:
        """T, the number of output frames for images ``width`` pixels wide."""
        return width // self.patch[1]

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] -> patches [B, N, p_h * p_w * C]; token n = row * gw + col, pixels in (p_h, p_w, C)
        order. A pure rearrangement: values and dtype are kept."""
        self.check_size(images.shape[-2], images.shape[-1])
        p_h, p_w = self.patch
        gh, gw = self.grid(images.shape[-2], images.shape[-1])
        x = images.unflatten(2, (gh, p_h)).unflatten(4, (gw, p_w))  # [B, C, gh, p_h, gw, p_w]
        return x.permute(0, 2, 4, 3, 5, 1).flatten(3).flatten(1, 2)

    def unpatchify(self, patches: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Patches [B, N, p_h * p_w * C] -> images [B, C, height, width]; the exact inverse of ``patchify``."""
        self.check_size(height, width)
        p_h, p_w = self.patch
        gh, gw = self.grid(height, width)
        x = patches.unflatten(1, (gh, gw)).unflatten(3, (p_h, p_w, -1))  # [B, gh, gw, p_h, p_w, C]
        return x.permute(0, 5, 1, 3, 2, 4).flatten(4, 5).flatten(2, 3)

    def _position_embedding(self, gh: int, gw: int) -> torch.Tensor:
        """[1, gh * gw, D]: the learned embedding, resized bicubically when the grid differs from the configured one."""
        pos = self.pos_embed
        if tuple(pos.shape[-2:]) != (gh, gw):
            pos = F.interpolate(pos.float(), size=(gh, gw), mode="bicubic", align_corners=False).to(pos.dtype)
        return pos.flatten(2).transpose(1, 2)

    def _embed(self, images: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, int, int]:
        """Images [B, C, H, W] -> position-embedded patch tokens [B, N, D], gh, gw."""
        self.check_size(images.shape[-2], images.shape[-1])
        gh, gw = self.grid(images.shape[-2], images.shape[-1])
        images = images.to(self.patch_embed.weight.dtype)  # float32 views into a model of another precision
        x = self.patch_embed(images * 2.0 - 1.0).flatten(2).transpose(1, 2)  # [B, N, D]
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_token.to(x.dtype), x)
        return x + self._position_embedding(gh, gw), gh, gw

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def tokens(self, images: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Images [B, C, H, W] -> token features [B, N, D]. ``mask`` bool [B, N], True = masked: those patches
        are replaced by the learned mask token before the position embedding (SimMIM)."""
        return self._encode(self._embed(images, mask)[0])

    def visible_tokens(self, images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W], ``keep`` int64 [B, K] token indices -> features [B, K, D] of the kept tokens,
        encoded without the others (MAE)."""
        x = self._embed(images)[0]
        x = torch.gather(x, 1, keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return self._encode(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] in [0, 1] -> feature sequence [B, W / p_w, D]: the token grid averaged over its rows."""
        x, gh, gw = self._embed(images)
        return self._encode(x).unflatten(1, (gh, gw)).mean(1)

