import warnings

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from textssl.data.charset import Charset
from textssl.data.dataset import Batch
from textssl.models.assembly import assemble
from textssl.models.recognizer import Recognizer
from textssl.train.recognition import RecognizerTask

from test_distributed_methods import free_port


def task_reading_a():
    charset = Charset("AB")
    model = Recognizer(assemble(), charset)
    with torch.no_grad():  # every frame predicts 'A', so every image decodes to "A"
        model.decoder.head.weight.zero_()
        model.decoder.head.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    return RecognizerTask(model, nn.Identity(), lr=1e-3, weight_decay=0.0, total_steps=1, warmup=0.0)


def accuracy_worker(rank, port, results):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    images, widths = torch.zeros(1, 1, 32, 128, dtype=torch.uint8), torch.tensor([128])
    # one batch per rank, of uneven size: 1 of 2 words right (0.5), 1 of 1 (1.0)
    batch = Batch(images.repeat(2, 1, 1, 1), widths.repeat(2), ["A", "B"]) if rank == 0 else \
        Batch(images, widths, ["A"])
    task = task_reading_a()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        task.validation_step(batch, 0)
    results.put((rank, float(task.val_word_accuracy.compute())))  # torchmetrics syncs over the group
    dist.barrier()
    dist.destroy_process_group()


def test_validation_word_accuracy_counts_words_across_uneven_ranks():
    context = mp.get_context("spawn")
    results = context.Queue()
    port = free_port()
    processes = [context.Process(target=accuracy_worker, args=(rank, port, results)) for rank in range(2)]
    for p in processes:
        p.start()
    accuracies = dict(results.get(timeout=120) for _ in processes)
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    # the mean over the 3 words, not the mean of the ranks' means (0.75)
    assert abs(accuracies[0] - 2 / 3) < 1e-6 and abs(accuracies[1] - 2 / 3) < 1e-6
