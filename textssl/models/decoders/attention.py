"""The attention-LSTM decoder of TRBA / ASTER: Bahdanau attention over the feature sequence.

At step t, with the LSTM state h_{t-1}: scores e = w^T tanh(W_h h_{t-1} + W_f f) over the T features,
context = softmax(e)-weighted sum of the features, h_t = LSTMCell([context, embed(previous token)]),
logits_t = Linear(h_t). The first previous token is [B].
"""
from __future__ import annotations

import torch
from torch import nn

from textssl.data.charset import Charset
from textssl.models.decoders.tokenizer import AutoregressiveDecoder


class AttentionDecoder(AutoregressiveDecoder):
    """Features [B, T, dim_in] -> logits [B, L, num_classes], one LSTM step per output token."""

    def __init__(self, charset: Charset, dim_in: int, *, max_length: int = 25, hidden: int = 256):
        super().__init__(charset, max_length)
        self.hidden = hidden
        self.feature_proj = nn.Linear(dim_in, hidden, bias=False)  # W_f
        self.hidden_proj = nn.Linear(hidden, hidden)  # W_h
        self.score = nn.Linear(hidden, 1, bias=False)  # w
        self.embedding = nn.Embedding(self.num_classes + 2, hidden)  # also embeds [B] and [P]
        self.cell = nn.LSTMCell(dim_in + hidden, hidden)
        self.classifier = nn.Linear(hidden, self.num_classes)

    def forward(self, features: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """features [B, T, dim_in]; targets int64 [B, L] from ``tokenizer.encode`` or None.

        With targets (teacher forcing): logits [B, L, K] of each target position. Without: greedy
        decoding for max_length + 1 steps, each fed the previous step's argmax: [B, max_length + 1, K].
        The greedy loop has a fixed step count and no data-dependent branches, so tracing unrolls it.
        """
        features = self._as_weight_dtype(features)
        projected_features = self.feature_proj(features)  # [B, T, hidden]
        zeros = torch.zeros_like(projected_features[:, 0])  # [B, hidden], batch taken from a tensor for tracing
        state = (zeros, zeros)
        step_logits = []
        if targets is not None:
            inputs = self._teacher_inputs(targets)  # [B, L]
            for step in range(inputs.shape[1]):
                logits, state = self._step(features, projected_features, state, inputs[:, step])
                step_logits.append(logits)
        else:
            previous = torch.full_like(features[:, 0, 0], self.tokenizer.bos, dtype=torch.long)  # [B]
            for _ in range(self.max_length + 1):
                logits, state = self._step(features, projected_features, state, previous)
                step_logits.append(logits)
                previous = logits.argmax(-1)
        return torch.stack(step_logits, dim=1)

    def _step(self, features: torch.Tensor, projected_features: torch.Tensor,
              state: tuple[torch.Tensor, torch.Tensor], previous: torch.Tensor):
        """One step: features [B, T, D], projected [B, T, H], state 2 x [B, H], previous tokens [B]
        -> (logits [B, K], new state)."""
        h, c = state
        scores = self.score(torch.tanh(projected_features + self.hidden_proj(h).unsqueeze(1))).squeeze(-1)  # [B, T]
        context = torch.bmm(scores.softmax(-1).unsqueeze(1), features).squeeze(1)  # [B, D]
        h, c = self.cell(torch.cat([context, self.embedding(previous)], dim=-1), (h, c))
        return self.classifier(h), (h, c)
