"""A small autoregressive transformer decoder (PARSeq / ViTSTR style) over an encoder's feature sequence.

Tokens are embedded (scaled by sqrt(d_model)) plus a learned position embedding for positions
0..max_length, then run through pre-norm decoder layers: causal self-attention, cross-attention to
the features (projected to d_model when dim_in differs), and a GELU MLP of ratio 4.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from textssl.data.charset import Charset
from textssl.errors import UserError
from textssl.models.decoders.tokenizer import AutoregressiveDecoder


def causal_mask(length: int, device: torch.device) -> torch.Tensor:
    """Boolean [length, length], True where query i may attend to key j (j <= i)."""
    return ~torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


class MultiHeadAttention(nn.Module):
    """Queries [B, Lq, D] attend to keys/values [B, Lk, D] -> [B, Lq, D]."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, keys_values: torch.Tensor, mask: torch.Tensor | None = None):
        q = self.query(queries).unflatten(-1, (self.heads, -1)).transpose(1, 2)  # [B, heads, Lq, D / heads]
        k, v = self.key_value(keys_values).unflatten(-1, (2, self.heads, -1)).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).flatten(2))


class DecoderLayer(nn.Module):
    """Pre-norm: x + self_attn(norm(x)) (causal), x + cross_attn(norm(x), norm(memory)), x + MLP(norm(x))."""

    def __init__(self, dim: int, heads: int, dropout: float, mlp_ratio: int = 4):
        super().__init__()
        self.self_attn_norm = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads, dropout)
        self.cross_attn_norm = nn.LayerNorm(dim)
        self.memory_norm = nn.LayerNorm(dim)
        self.cross_attn = MultiHeadAttention(dim, heads, dropout)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(mlp_ratio * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, L, D], memory [B, T, D], mask [L, L] boolean (True = may attend) -> [B, L, D]."""
        h = self.self_attn_norm(x)
        x = x + self.dropout(self.self_attn(h, h, mask))
        x = x + self.dropout(self.cross_attn(self.cross_attn_norm(x), self.memory_norm(memory)))
        return x + self.dropout(self.mlp(self.mlp_norm(x)))


class TransformerDecoder(AutoregressiveDecoder):
    """Features [B, T, dim_in] -> logits [B, L, num_classes]; position i predicts the token after input i."""

    def __init__(self, charset: Charset, dim_in: int, *, max_length: int = 25, d_model: int = 256, heads: int = 8,
                 layers: int = 2, dropout: float = 0.1):
        super().__init__(charset, max_length)
        if d_model % heads:
            raise UserError(f"the decoder's d_model {d_model} must be a multiple of its heads {heads}")
        self.d_model = d_model
        self.token_embedding = nn.Embedding(self.num_classes + 2, d_model)  # also embeds [B] and [P]
        self.position_embedding = nn.Parameter(torch.zeros(1, max_length + 1, d_model))
        self.memory_proj = nn.Linear(dim_in, d_model) if dim_in != d_model else nn.Identity()
        self.embedding_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(DecoderLayer(d_model, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.classifier = nn.Linear(d_model, self.num_classes)
        nn.init.trunc_normal_(self.token_embedding.weight, std=0.02)
        nn.init.trunc_normal_(self.position_embedding, std=0.02)

    def forward(self, features: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """features [B, T, dim_in]; targets int64 [B, L] from ``tokenizer.encode`` or None.

        With targets (teacher forcing, inputs [B] + targets[:, :-1]): logits [B, L, K]. Without:
        greedy decoding for max_length + 1 steps, each re-running the prefix and appending the last
        position's argmax: [B, max_length + 1, K]. The loop has a fixed step count and no
        data-dependent branches, so tracing unrolls it.
        """
        memory = self.memory_proj(self._as_weight_dtype(features))  # [B, T, d_model]
        if targets is not None:
            return self._logits(self._teacher_inputs(targets), memory)
        tokens = torch.full_like(memory[:, :1, 0], self.tokenizer.bos, dtype=torch.long)  # [B, 1]
        step_logits = []
        for step in range(self.max_length + 1):
            logits = self._logits(tokens, memory)[:, -1]  # [B, K]
            step_logits.append(logits)
            if step < self.max_length:
                tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)
        return torch.stack(step_logits, dim=1)

    def _logits(self, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Input tokens [B, L] (L <= max_length + 1), memory [B, T, d_model] -> logits [B, L, K]."""
        length = tokens.shape[1]
        x = self.token_embedding(tokens) * math.sqrt(self.d_model) + self.position_embedding[:, :length]
        x = self.embedding_dropout(x)
        mask = causal_mask(length, tokens.device)
        for layer in self.layers:
            x = layer(x, memory, mask)
        return self.classifier(self.norm(x))
