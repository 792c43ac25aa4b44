"""Throughput of textssl on this machine, written as JSON under benchmarks/results/.

Measures, for the default (small) CRNN:
- fine-tuning: end-to-end img/s of the real Lightning loop (LMDB batches, augmentation, CTC step)
  against the bare model's forward+backward+optimizer img/s on the same batch; their ratio;
- SSL pretraining (SeqCLR): end-to-end img/s (two views made on the device) against the bare
  encoder+head forward+backward on two ready views of the same batch; their ratio;
- inference (uint8 images in, decoded text out) img/s at batch 64 and latency at batch 1;
- captcha generation img/s.

Each rate is given over the whole timed window (mean) and for the median step: on a shared
machine, stolen time lands on a few steps; the median shows the pipeline without it.

    python benchmarks/throughput.py [--steps 60] [--out benchmarks/results/DATE-DEVICE-throughput.json]

Pretraining streams its images from the LMDB through two worker processes (its memory stays flat in
the number of images); fine-tuning decodes its labeled images once into memory.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from itertools import pairwise

import lightning as L
import torch
from benchmarks_common import write_result

from textssl.api import TextRecognizer
from textssl.data.captcha_gen import generate_captchas
from textssl.data.charset import Charset
from textssl.data.dataset import ImageSpec
from textssl.methods import build_method
from textssl.models.crnn import PretrainBackbone, Recognizer, model_config
from textssl.train.finetune import FinetuneConfig, finetune
from textssl.train.pretrain import PretrainConfig, pretrain
from textssl.train.recognition import ctc_loss


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepTimer(L.Callback):
    """Wall time of each training step of a Lightning loop (batch end to batch end), after ``skip`` warm-up steps."""

    def __init__(self, skip: int = 10):
        self.skip, self.times = skip, []

    def on_train_batch_end(self, trainer, *args):
        _sync()
        self.times.append(time.perf_counter())

    def images_per_second(self, batch_size: int) -> tuple[float, float]:
        """(img/s over the whole timed window, img/s of the median step)."""
        times = self.times[self.skip:]
        return (batch_size * (len(times) - 1) / (times[-1] - times[0]),
                batch_size / statistics.median(b - a for a, b in pairwise(times)))


def timed(fn, steps: int, warmup: int = 5) -> tuple[float, float]:
    """(mean, median) seconds per call of ``fn``. Both, here and in StepTimer: the mean is the
    honest throughput, the median the one that a shared machine's stolen time does not decide."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(steps):
        _sync()
        start = time.perf_counter()
        fn()
        _sync()
        seconds.append(time.perf_counter() - start)
    return statistics.mean(seconds), statistics.median(seconds)


def rates(batch: int, seconds: tuple[float, float]) -> tuple[float, float]:
    return batch / seconds[0], batch / seconds[1]


def bare_finetune_step(device: str, batch: int, steps: int) -> float:
    charset = Charset.from_spec("captcha")
    model = Recognizer(model_config("small"), charset.num_classes).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    images = torch.rand(batch, 1, 32, 128, device=device)
    labels = ["AB12C"] * batch

    def step():
        optimizer.zero_grad(set_to_none=True)
        ctc_loss(model(images), labels, charset).backward()
        optimizer.step()

    return rates(batch, timed(step, steps))


def bare_pretrain_step(device: str, batch: int, steps: int) -> float:
    method = build_method("seqclr", PretrainBackbone(model_config("small"))).to(device)
    optimizer = torch.optim.AdamW(method.parameters(), 1e-3)
    views = [torch.rand(batch, 1, 32, 128, device=device) for _ in range(2)]

    def step():
        optimizer.zero_grad(set_to_none=True)
        method(views)[0].backward()
        optimizer.step()

    return rates(batch, timed(step, steps))


def inference(device: str) -> tuple[float, float]:
    """(img/s at batch 64, ms at batch 1) of TextRecognizer.predict_batch: uint8 in, decoded text out."""
    model = Recognizer(model_config("small"), 37)
    reader = TextRecognizer(model, Charset.from_spec("captcha"), ImageSpec(), device)
    x64 = torch.randint(0, 256, (64, 1, 32, 128), dtype=torch.uint8)
    batch64 = timed(lambda: reader.predict_batch(x64), 30)[1]
    return 64 / batch64, 1000 * timed(lambda: reader.predict_batch(x64[:1]), 100)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per measurement")
    parser.add_argument("--out", help="JSON file (default: benchmarks/results/<date>-<device>-throughput.json)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    fine_batch, pre_batch = 64, 128
    with tempfile.TemporaryDirectory() as tmp:
        gen = generate_captchas(f"{tmp}/train", 3000, labeled=True, seed=1, width=128, height=32, progress=False)
        generate_captchas(f"{tmp}/val", 64, labeled=True, seed=2, width=128, height=32, progress=False)
        fine_timer, pre_timer = StepTimer(), StepTimer()
        total = args.steps + fine_timer.skip
        finetune(FinetuneConfig(train=[f"{tmp}/train"], val=f"{tmp}/val", out=f"{tmp}/run", max_steps=total,
                                batch_size=fine_batch, val_every=total, progress=False,
                                extra_callbacks=[fine_timer]))
        pretrain(PretrainConfig(data=[f"{tmp}/train"], out=f"{tmp}/pre", method="seqclr", max_steps=total,
                                batch_size=pre_batch, checkpoint_every=10 * total, progress=False,
                                extra_callbacks=[pre_timer]))
    fine_bare = bare_finetune_step(device, fine_batch, args.steps)
    pre_bare = bare_pretrain_step(device, pre_batch, args.steps)
    fine_e2e, pre_e2e = fine_timer.images_per_second(fine_batch), pre_timer.images_per_second(pre_batch)
    infer, latency = inference(device)
    parameters = sum(p.numel() for p in Recognizer(model_config("small"), 37).parameters())

    def loop(batch: int, e2e: tuple[float, float], bare: tuple[float, float], **extra) -> dict:
        return {"batch": batch, **extra,
                "mean": {"end_to_end_img_s": e2e[0], "bare_img_s": bare[0], "ratio": e2e[0] / bare[0]},
                "median_step": {"end_to_end_img_s": e2e[1], "bare_img_s": bare[1], "ratio": e2e[1] / bare[1]}}

    measurements = {
        "model": f"crnn small ({parameters / 1e6:.2f}M parameters), 1x32x128 grey images",
        "finetune": loop(fine_batch, fine_e2e, fine_bare),
        "pretrain_seqclr": loop(pre_batch, pre_e2e, pre_bare, views=2),
        "inference": {"batch64_img_s": infer, "batch1_latency_ms": latency, "includes": "CTC decoding to text"},
        "captcha_generation_img_s": gen["images_per_second"],
    }
    path = write_result(f"{device}-throughput", measurements, out=args.out, notes=[
        "end to end: the Lightning loop on LMDB data with augmentation (pretraining streamed from the LMDB); bare: "
        "forward, backward and optimizer step of the same model on ready tensors of the same batch"])
    print(json.dumps(measurements, indent=2))
    print(path)


if __name__ == "__main__":
    main()
