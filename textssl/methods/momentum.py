"""The parts the momentum methods share: a target network that follows the online one by an
exponential moving average on a schedule, and a queue of past keys kept in the checkpoint."""
from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn


def cosine_momentum(step: int, total: int, start: float, end: float = 1.0) -> float:
    """The momentum after ``step`` of ``total`` steps: ``start`` at 0, rising to ``end`` at ``total``
    along half a cosine, m = end - (end - start) (cos(pi step / total) + 1) / 2 (BYOL, MoCo v3)."""
    return end - (end - start) * (math.cos(math.pi * min(step, total) / max(total, 1)) + 1) / 2


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` that no optimizer steps: its parameters move only by ``ema_update``."""
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target = momentum * target + (1 - momentum) * online, parameter by parameter."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.lerp_(o.detach(), 1 - momentum)


class KeyQueue(nn.Module):
    """A first-in first-out queue of ``size`` keys [size, dim]. Its keys, pointer and fill count are
    buffers, so a checkpoint holds them and ``--resume`` goes on with the same queue. With
    ``start_random`` it starts full of random unit keys (MoCo's start), else empty."""

    def __init__(self, size: int, dim: int, start_random: bool = False):
        super().__init__()
        keys = torch.nn.functional.normalize(torch.randn(size, dim), dim=1) if start_random else torch.zeros(size, dim)
        self.register_buffer("keys", keys)
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.tensor(size if start_random else 0))

    def __len__(self) -> int:
        return int(self.filled)

    def stored(self) -> Tensor:
        """The keys enqueued so far, at most ``size`` of them [min(filled, size), dim]."""
        return self.keys[:int(self.filled)]

    @torch.no_grad()
    def push(self, keys: Tensor) -> None:
        """Enqueue ``keys`` [n, dim], overwriting the oldest: a batch that passes the end wraps round to
        the start, so no key is dropped unless n > size (then its last ``size`` stay)."""
        size = len(self.keys)
        keys = keys.detach()[-size:].to(self.keys.dtype)
        slots = (self.pointer + torch.arange(len(keys), device=keys.device)) % size
        self.keys[slots] = keys
        self.pointer.copy_((self.pointer + len(keys)) % size)
        self.filled.copy_(torch.clamp(self.filled + len(keys), max=size))
