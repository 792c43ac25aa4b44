"""Optimizers and learning-rate schedules shared by pretraining and fine-tuning."""
from __future__ import annotations

import math

import torch

from textssl.errors import UserError
from textssl.train.options import OPTIMIZERS


def make_optimizer(params, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """``params``: parameters, or parameter groups (dicts with "params" and per-group settings); those
    without a gradient are left out."""
    params = list(params)
    if params and isinstance(params[0], dict):
        params = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in params]
        params = [g for g in params if g["params"]]
    else:
        params = [p for p in params if p.requires_grad]
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise UserError(f"unknown --optimizer '{name}': use {' or '.join(OPTIMIZERS)}")


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup: float) -> dict:
    """Linear warm-up over the first ``warmup`` fraction of steps, then cosine decay to 0; per step."""
    warm = max(1, int(total_steps * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
