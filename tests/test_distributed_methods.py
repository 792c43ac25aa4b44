"""Across two processes (gloo on CPU), the methods' losses over the global batch equal one process's
on the same batch: negatives gathered with their gradient, label offsets per rank, Sinkhorn's sums
over every process, MoCo's queue filled with every process's keys."""
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from textssl.losses import query_key_info_nce, sinkhorn, swapped_prediction
from textssl.methods.distributed import all_reduce_sum, gather, gather_detached
from textssl.methods.simclr import pair_loss

ROWS, DIM, PROTOTYPES = 8, 6, 4


def global_batch():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(ROWS, DIM, generator=g) for _ in range(2)] + [torch.nn.functional.normalize(
        torch.randn(PROTOTYPES, DIM, generator=g), dim=1)]


def losses(a, b, prototypes, reduce=lambda x: x):
    """simclr's, moco v3's and swav's loss of views a, b [n, DIM] (this process's rows)."""
    a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
    simclr = pair_loss("info-nce", a, b, 0.1, 0.5)
    (keys_a, offset), (keys_b, _) = gather(a.detach()), gather(b.detach())
    moco = query_key_info_nce(a, keys_b, 0.2, offset) + query_key_info_nce(b, keys_a, 0.2, offset)
    scores = [torch.nn.functional.normalize(v, dim=1) @ prototypes.T for v in (a, b)]
    swav = swapped_prediction(scores, [sinkhorn(s, 0.05, 3, reduce) for s in scores], 0.1)
    gradients = [torch.autograd.grad(loss, a, retain_graph=True)[0] for loss in (simclr, moco, swav)]
    return torch.stack([simclr.detach(), moco.detach(), swav.detach()]), gradients


def worker(rank, port, results):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    a, b, prototypes = global_batch()
    rows = slice(rank * ROWS // 2, (rank + 1) * ROWS // 2)
    values, gradients = losses(a[rows], b[rows], prototypes, all_reduce_sum)
    queue_keys = gather_detached(b[rows])
    # numpy arrays travel by value; tensors would travel as shared memory that the parent can only map
    # while this process lives, and it may have ended by then on a loaded machine
    results.put((rank, values.numpy(), [g.numpy() for g in gradients], queue_keys.numpy()))
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_loss_and_gradient_of_one_on_the_same_global_batch():
    context = mp.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=worker, args=(rank, free_port_once, results))
                 for free_port_once in [free_port()] for rank in range(2)]
    for p in processes:
        p.start()
    by_rank = {rank: (torch.from_numpy(values), [torch.from_numpy(g) for g in gradients], torch.from_numpy(keys))
               for rank, values, gradients, keys in (results.get(timeout=120) for _ in processes)}
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    a, b, prototypes = global_batch()
    values, gradients = losses(a, b, prototypes)
    mean_of_processes = (by_rank[0][0] + by_rank[1][0]) / 2  # DDP averages the processes' gradients
    assert torch.allclose(mean_of_processes, values, atol=1e-5), (mean_of_processes, values)
    for which in range(3):  # simclr: the gathered rows carry their gradient home
        per_process = torch.cat([by_rank[r][1][which] for r in range(2)]) / 2
        assert torch.allclose(per_process, gradients[which], atol=1e-5)
    assert torch.equal(by_rank[0][2], b) and torch.equal(by_rank[1][2], b)  # every key, in rank order
