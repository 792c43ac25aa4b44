"""Sequence models between the encoder and the decoder: feature sequence [B, T, D] -> [B, T, dim]."""
from __future__ import annotations

import torch
from torch import nn


class BiLSTMSequence(nn.Module):
    """H = BiLSTM(V) + W V [B, T, 2 * hidden]; without the shortcut W V, the classic CRNN's H = BiLSTM(V).

    The linear shortcut gives the decoder a direct path to the encoder. Without it, CTC training of the
    CRNN sat on its all-blank plateau for more than 1,200 steps on captchas (batch 64, 10k labels, AdamW
    at 1e-3 or 3e-3, dropout 0 or 0.2); with it, the plateau ended after ~250 steps."""

    def __init__(self, dim_in: int, *, hidden: int = 128, layers: int = 2, dropout: float = 0.2,
                 shortcut: bool = True):
        super().__init__()
        self.lstm = nn.LSTM(dim_in, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.shortcut = nn.Linear(dim_in, 2 * hidden) if shortcut else None
        self.dropout = nn.Dropout(dropout)
        self.dim = 2 * hidden

    def forward(self, visual: torch.Tensor) -> torch.Tensor:
        contextual = self.lstm(visual)[0]
        return self.dropout(contextual if self.shortcut is None else contextual + self.shortcut(visual))


class NoSequence(nn.Module):
    """The encoder's features as they are."""

    def __init__(self, dim_in: int):
        super().__init__()
        self.dim = dim_in

    def forward(self, visual: torch.Tensor) -> torch.Tensor:
        return visual


class TransformerSequence(nn.Module):
    """A few pre-norm transformer encoder layers over the sequence (no position embedding of its own:
    the encoder's features carry their positions)."""

    def __init__(self, dim_in: int, *, layers: int = 2, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        layer = nn.TransformerEncoderLayer(dim_in, heads, 4 * dim_in, dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim_in)
        self.dim = dim_in

    def forward(self, visual: torch.Tensor) -> torch.Tensor:
        return self.norm(self.layers(visual))


SEQUENCE_MODELS = {"bilstm": BiLSTMSequence, "none": NoSequence, "transformer": TransformerSequence}
