"""Projection and prediction heads applied per instance ([..., D] -> [..., out]) or over a sequence."""
from __future__ import annotations

import torch
from torch import nn

from textssl.errors import UserError


class MLPHead(nn.Module):
    """Linear-BN-ReLU blocks then a linear layer, applied to the last axis of any [..., D] tensor."""

    def __init__(self, dims: list[int], last_bn: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        for i, (din, dout) in enumerate(zip(dims[:-1], dims[1:])):
            last = i == len(dims) - 2
            layers.append(nn.Linear(din, dout, bias=last and not last_bn))
            if not last:
                layers += [nn.BatchNorm1d(dout), nn.ReLU(inplace=True)]
            elif last_bn:
                layers.append(nn.BatchNorm1d(dout, affine=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        return self.net(x.reshape(-1, shape[-1])).reshape(*shape[:-1], -1)


class BiLSTMHead(nn.Module):
    """SeqCLR's sequence projection head: a BiLSTM over [B, T, D] -> [B, T, out]."""

    over_sequence = True  # applied to the frames before the instance mapping

    def __init__(self, din: int, out: int):
        super().__init__()
        if out % 2:
            raise UserError(f"--proj-dim {out} must be even for the bilstm head")
        self.lstm = nn.LSTM(din, out // 2, batch_first=True, bidirectional=True)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.lstm(seq)[0]


def projection_head(kind: str, din: int, hidden: int, out: int, last_bn: bool = False) -> nn.Module:
    """``mlp``: Linear-BN-ReLU-Linear (BatchNorm on the output too with ``last_bn``); ``linear``: one linear
    layer (MoCo v1's); ``bilstm``: BiLSTMHead."""
    if kind == "mlp":
        return MLPHead([din, hidden, out], last_bn=last_bn)
    if kind == "linear":
        return MLPHead([din, out], last_bn=last_bn)
    if kind == "bilstm":
        return BiLSTMHead(din, out)
    raise UserError(f"unknown --head '{kind}': use mlp, linear or bilstm")
