"""Throughput of textssl on this machine, written as JSON under benchmarks/results/.

Measures, for the default (small) CRNN:
- fine-tuning: end-to-end img/s of the real Lightning loop (LMDB batches, augmentation, CTC step)
  against the bare model's forward+backward+optimizer img/s on the same batch; their ratio;
- SSL pretraining (SeqCLR): end-to-end img/s (two views made on the device) against the bare
  encoder+head forward+backward on two ready views of the same batch; their ratio;
- inference img/s at batch 64 and latency at batch 1;
- captcha generation img/s.

    python benchmarks/throughput.py [--steps 60] [--out benchmarks/results/DATE-DEVICE-throughput.json]
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from textssl.augment.views import build_view_augment, make_views
from textssl.data.captcha_gen import generate_captchas
from textssl.data.charset import Charset
from textssl.methods import build_method
from textssl.models.crnn import PretrainBackbone, Recognizer, model_config
from textssl.train.finetune import FinetuneConfig, finetune
from textssl.train.pretrain import PretrainConfig, pretrain
from textssl.train.recognition import ctc_loss


class StepTimer(L.Callback):
    """Wall time between consecutive training-batch ends, after ``skip`` warm-up steps."""

    def __init__(self, skip: int = 10):
        self.skip, self.times = skip, []

    def on_train_batch_end(self, trainer, *args):
        self.times.append(time.perf_counter())

    def images_per_second(self, batch_size: int) -> float:
        times = self.times[self.skip:]
        return batch_size * (len(times) - 1) / (times[-1] - times[0])


def timed(fn, steps: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


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

    return batch / timed(step, steps)


def bare_pretrain_step(device: str, batch: int, steps: int) -> float:
    method = build_method("seqclr", PretrainBackbone(model_config("small"))).to(device)
    optimizer = torch.optim.AdamW(method.parameters(), 1e-3)
    views = [torch.rand(batch, 1, 32, 128, device=device) for _ in range(2)]

    def step():
        optimizer.zero_grad(set_to_none=True)
        method(views)[0].backward()
        optimizer.step()

    return batch / timed(step, steps)


def inference(device: str) -> tuple[float, float]:
    model = Recognizer(model_config("small"), 37).to(device).eval()
    with torch.inference_mode():
        x64, x1 = torch.rand(64, 1, 32, 128, device=device), torch.rand(1, 1, 32, 128, device=device)
        return 64 / timed(lambda: model(x64), 30), 1000 * timed(lambda: model(x1), 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per measurement")
    parser.add_argument("--out", help="JSON file (default: benchmarks/results/<date>-<device>-throughput.json)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else f"{platform.processor() or 'cpu'} x{torch.get_num_threads()} threads"
    fine_batch, pre_batch = 64, 128
    with tempfile.TemporaryDirectory() as tmp:
        gen = generate_captchas(f"{tmp}/train", 4000, labeled=True, seed=1, width=128, height=32, progress=False)
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
    pre_bare = bare_pretrain_step(device, pre_batch, args.steps // 2)
    fine_e2e, pre_e2e = fine_timer.images_per_second(fine_batch), pre_timer.images_per_second(pre_batch)
    infer, latency = inference(device)
    result = {
        "date": datetime.date.today().isoformat(), "device": name, "torch": torch.__version__,
        "model": "crnn small (0.83M parameters), 1x32x128 images",
        "finetune": {"batch": fine_batch, "end_to_end_img_s": fine_e2e, "bare_forward_backward_img_s": fine_bare,
                     "ratio": fine_e2e / fine_bare},
        "pretrain_seqclr": {"batch": pre_batch, "views": 2, "end_to_end_img_s": pre_e2e,
                            "bare_forward_backward_img_s": pre_bare, "ratio": pre_e2e / pre_bare},
        "inference": {"batch64_img_s": infer, "batch1_latency_ms": latency},
        "captcha_generation_img_s": gen["images_per_second"],
    }
    out = Path(args.out or f"benchmarks/results/{result['date']}-{device}-throughput.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
