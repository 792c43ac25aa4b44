"""What the methods need across the processes of ``--devices N``: every process's rows, with the
gradient of the local ones, and sums over the processes. In one process each is the identity."""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _row_counts(x: Tensor) -> list[int]:
    counts = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world_size())]
    dist.all_gather(counts, torch.tensor([len(x)], device=x.device))
    return [int(c) for c in counts]


def _all_rows(x: Tensor, counts: list[int]) -> Tensor:
    """Every process's rows, padded to the longest for all_gather and cut back."""
    padded = x.new_zeros((max(counts), *x.shape[1:]))
    padded[:len(x)] = x
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded)
    return torch.cat([part[:n] for part, n in zip(parts, counts)])


class _Gather(torch.autograd.Function):
    """All-gather whose backward sums the gradients of every process's loss and returns this process's
    rows' share, as lightly's and solo-learn's GatherLayer do: DDP's average of the parameters'
    gradients then gives the gradient of the mean of the processes' losses."""

    @staticmethod
    def forward(ctx, x, counts):
        ctx.start, ctx.rows = sum(counts[:dist.get_rank()]), len(x)
        return _all_rows(x, counts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.start:ctx.start + ctx.rows], None


def gather(x: Tensor) -> tuple[Tensor, int]:
    """Every process's rows [M, ...] from this process's [N, ...] (N may differ between processes),
    in rank order, and the index of this process's first row. The local rows keep their gradient,
    which every process's loss reaches; with one process: (x, 0)."""
    if world_size() == 1:
        return x, 0
    counts = _row_counts(x)
    return _Gather.apply(x, counts), sum(counts[:dist.get_rank()])


@torch.no_grad()
def gather_detached(x: Tensor) -> Tensor:
    """Every process's rows of ``x``, without gradient (keys for a queue)."""
    return x if world_size() == 1 else _all_rows(x.detach(), _row_counts(x))


def all_reduce_sum(x: Tensor) -> Tensor:
    """The sum of ``x`` over the processes (a new tensor; ``x`` itself with one process)."""
    if world_size() == 1:
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x
