"""Throughput of textssl on this machine, written as JSON under benchmarks/results/.

Measures, for the default recognizer (cnn + bilstm + ctc):
- fine-tuning: end-to-end img/s of the real Lightning loop (LMDB batches, augmentation, CTC step)
  against the bare model's forward+backward+optimizer img/s on the same batch; their ratio;
- SSL pretraining, for every method (``--methods``; the masking ones on the ViT micro): end-to-end
  img/s (the views made on the device) against the bare method's step on ready views of the same
  batch (forward, backward, optimizer and its after-step hook: momentum encoders included on both
  sides); their ratio;
- inference (uint8 images in, decoded text out) img/s at batch 64 and latency at batch 1;
- captcha generation img/s.

Each rate is given over the whole timed window (mean) and for the median step: on a shared
machine, stolen time lands on a few steps; the median shows the pipeline without it.

    python benchmarks/throughput.py [--steps 60] [--rounds 3] [--methods simclr,moco-v2] [--out FILE.json]

A shared machine's speed drifts by 20% over minutes: each method's bare step is timed right after its
loop, in ``--rounds`` rounds, and the round of the median ratio (mean rates) is kept; every round's
ratio is written beside it.

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
from textssl.methods import METHODS, build_method, method_class
from textssl.methods.base import MethodBatch
from textssl.models.assembly import assemble
from textssl.models.recognizer import PretrainBackbone, Recognizer
from textssl.train.finetune import FinetuneConfig, finetune
from textssl.train.pretrain import PretrainConfig, pretrain


def patches(method: str) -> bool:
    """Whether ``method`` masks patches, and so runs on the ViT (micro) instead of the CNN."""
    return getattr(method_class(method), "needs_patches", False)


def channels(method: str) -> int:
    """3 for a method that needs colour images (colorization), else 1."""
    return 3 if getattr(method_class(method), "needs_rgb", False) else 1


def assembly(decoder: str | None = "ctc", vit: bool = False, in_channels: int = 1):
    return assemble(encoder="vit" if vit else "cnn", encoder_size="micro" if vit else None, sequence="bilstm",
                    shortcut=True, decoder=decoder, in_channels=in_channels, height=32, width=128)


def recognizer() -> Recognizer:
    return Recognizer(assembly(), Charset.from_spec("captcha"))


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
    model = recognizer().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    images = torch.rand(batch, 1, 32, 128, device=device)
    labels = ["AB12C"] * batch

    def step():
        optimizer.zero_grad(set_to_none=True)
        model.loss(images, labels).backward()
        optimizer.step()

    return rates(batch, timed(step, steps))


def bare_pretrain_step(method_name: str, device: str, batch: int, steps: int) -> float:
    c = channels(method_name)
    method = build_method(method_name, PretrainBackbone(assembly(None, patches(method_name), c))).to(device)
    optimizers = {name: torch.optim.AdamW(groups, 1e-3) for name, groups in method.parameter_groups().items()}
    raw, widths, task = torch.rand(batch, c, 32, 128, device=device), torch.full((batch,), 128, device=device), None
    if hasattr(method, "before_views"):  # rotation turns the lines before their views: part of making them
        images, widths, task = method.before_views(raw, widths)
    inputs = MethodBatch([torch.rand_like(images if task is not None else raw) for _ in method.views], widths,
                         raw if method.wants_raw else None, task)
    count = iter(range(1, 10**9))

    def step():
        losses = method.losses(inputs) if len(optimizers) > 1 else [("main", method(inputs)[0])]
        for name, loss in losses:  # several optimizers (adversarial): each stepped before the next loss
            optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[name].step()
        method.after_step(next(count), 10**9)

    return rates(batch, timed(step, steps))


def inference(device: str) -> tuple[float, float]:
    """(img/s at batch 64, ms at batch 1) of TextRecognizer.predict_batch: uint8 in, decoded text out."""
    model = recognizer()
    reader = TextRecognizer(model, Charset.from_spec("captcha"), ImageSpec(), device)
    x64 = torch.randint(0, 256, (64, 1, 32, 128), dtype=torch.uint8)
    batch64 = timed(lambda: reader.predict_batch(x64), 30)[1]
    return 64 / batch64, 1000 * timed(lambda: reader.predict_batch(x64[:1]), 100)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="end-to-end then bare, this many times per method; the round of the median ratio is kept")
    parser.add_argument("--vit-batch", type=int, default=128,
                        help="batch of the masking methods, on the ViT (smaller on a CPU: its steps are slow)")
    parser.add_argument("--methods", default=",".join(METHODS), help="SSL methods to measure (default: all)")
    parser.add_argument("--out", help="JSON file (default: benchmarks/results/<date>-<device>-throughput.json)")
    args = parser.parse_args()
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"--methods: unknown {', '.join(unknown)}; use {', '.join(METHODS)}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pre_rounds, pre_batches = {}, {}
    fine_batch, pre_batch = 64, 128
    with tempfile.TemporaryDirectory() as tmp:
        gen = generate_captchas(f"{tmp}/train", 3000, labeled=True, seed=1, width=128, height=32, progress=False)
        generate_captchas(f"{tmp}/val", 64, labeled=True, seed=2, width=128, height=32, progress=False)
        fine_timer = StepTimer()
        total = args.steps + fine_timer.skip
        finetune(FinetuneConfig(train=[f"{tmp}/train"], val=f"{tmp}/val", out=f"{tmp}/run", max_steps=total,
                                batch_size=fine_batch, val_every=total, progress=False,
                                extra_callbacks=[fine_timer]))
        fine_bare = bare_finetune_step(device, fine_batch, args.steps)  # each bare step right after its loop:
        pre_e2e, pre_bare = {}, {}  # a shared machine's speed drifts over minutes, not within one
        for method in methods:
            rounds, batch = [], args.vit_batch if patches(method) else pre_batch
            for r in range(args.rounds):
                timer = StepTimer()
                vit = {"encoder": "vit", "encoder_size": "micro"} if patches(method) else {}
                pretrain(PretrainConfig(data=[f"{tmp}/train"], out=f"{tmp}/pre-{method}-{r}", method=method,
                                        max_steps=total, batch_size=batch, checkpoint_every=10 * total,
                                        channels=channels(method), progress=False, extra_callbacks=[timer],
                                        **vit))
                rounds.append((timer.images_per_second(batch), bare_pretrain_step(method, device, batch,
                                                                                       args.steps)))
            pre_rounds[method] = [a[0] / b[0] for a, b in rounds]
            e2e, bare = sorted(rounds, key=lambda pair: pair[0][0] / pair[1][0])[len(rounds) // 2]  # median ratio
            pre_e2e[method], pre_bare[method], pre_batches[method] = e2e, bare, batch
    fine_e2e = fine_timer.images_per_second(fine_batch)
    infer, latency = inference(device)
    parameters = sum(p.numel() for p in recognizer().parameters())

    def loop(batch: int, e2e: tuple[float, float], bare: tuple[float, float], **extra) -> dict:
        return {"batch": batch, **extra,
                "mean": {"end_to_end_img_s": e2e[0], "bare_img_s": bare[0], "ratio": e2e[0] / bare[0]},
                "median_step": {"end_to_end_img_s": e2e[1], "bare_img_s": bare[1], "ratio": e2e[1] / bare[1]}}

    measurements = {
        "model": f"cnn + bilstm + ctc ({parameters / 1e6:.2f}M parameters), 1x32x128 grey images",
        "finetune": loop(fine_batch, fine_e2e, fine_bare),
        **{f"pretrain_{method}": loop(pre_batches[method], pre_e2e[method], pre_bare[method],
                                      encoder="vit micro" if patches(method) else "cnn",
                                      views=len(build_method(method, PretrainBackbone(
                                          assembly(None, patches(method), channels(method)))).views),
                                      ratio_of_each_round=pre_rounds[method])
           for method in methods},
        "inference": {"batch64_img_s": infer, "batch1_latency_ms": latency, "includes": "CTC decoding to text"},
        "captcha_generation_img_s": gen["images_per_second"],
    }
    path = write_result(f"{device}-throughput", measurements, out=args.out, notes=[
        "end to end: the Lightning loop on LMDB data with augmentation (pretraining streamed from the LMDB); bare: "
        "forward, backward and optimizer step of the same model on ready tensors of the same batch (a method's "
        "after-step hook, its momentum update, included)", "each method at its default options"])
    print(json.dumps(measurements, indent=2))
    print(path)


if __name__ == "__main__":
    main()
