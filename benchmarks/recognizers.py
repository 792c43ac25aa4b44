"""Every encoder x decoder on the 10,000-label captchas of the supervised baseline (0.910 with cnn + ctc):
word accuracy and CER on 2,000 test captchas, parameters, training img/s, inference img/s at batch 64
and latency at batch 1 in PyTorch and in onnxruntime, and whether onnxruntime reads what PyTorch
reads (strings on all test captchas, the largest logit difference).

Each pair is trained with the recipe of the 0.910 run (batch 64, lr 3e-3, strength 0.5, validation
every 500 steps; ViT at lr 1e-3, as transformers want a smaller one) for ``--epochs`` epochs, or
``--epochs-for ENCODER=N`` for an encoder whose steps cost more on this machine. Finished runs in
WORKDIR are kept and skipped when the script runs again.

    python benchmarks/recognizers.py WORKDIR [--pairs cnn:ctc vit:transformer ...] [--epochs 20]
        [--epochs-for vit=3 resnet=8]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks_common import finetuned, textssl, write_result

ENCODERS, DECODERS = ("cnn", "resnet", "vit"), ("ctc", "attention", "transformer")
SPLITS = {"train": (10000, 1), "val": (1000, 2), "test": (2000, 3)}  # count, seed: the 0.910 run's sets
LR = {"vit": "1e-3"}


def seconds_per_image(run, images, batch: int, repeats: int) -> float:
    """Median seconds per image of ``run(batch of images)`` over ``repeats`` calls after one warm-up."""
    x = images[:batch]
    run(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] / batch


def speed_and_agreement(run_dir: Path, onnx_path: Path, test: Path) -> dict:
    import torch

    from textssl.api import TextRecognizer
    from textssl.data.dataset import LmdbTextDataset, preload

    reader = TextRecognizer.load(run_dir, device="cpu")
    onnx = TextRecognizer.load(onnx_path)
    data = preload(LmdbTextDataset(str(test), reader.spec))
    images = data.images
    torch_logits, onnx_logits, torch_text, onnx_text = [], [], [], []
    with torch.inference_mode():
        for i in range(0, len(images), 64):
            batch = images[i:i + 64]
            logits = reader.model(batch.float() / 255.0)
            torch_logits.append(logits)
            torch_text += [t for t, _ in reader.model.decoder.decode(logits)]
            logits = onnx.model.logits(batch)
            onnx_logits.append(logits)
            onnx_text += [t for t, _ in onnx.model.decoder.decode(logits)]
        difference = (torch.cat(torch_logits) - torch.cat(onnx_logits)).abs()
        row = {"onnx_strings_equal": sum(a == b for a, b in zip(torch_text, onnx_text)),
               "onnx_images": len(torch_text), "onnx_max_logit_difference": float(difference.max()),
               "onnx_logits_within_1e-4": float((difference <= 1e-4).float().mean())}
        for name, model in (("pytorch", reader.model), ("onnxruntime", onnx.model)):
            row[f"{name}_img_per_s_batch64"] = round(1 / seconds_per_image(model.read, images, 64, 10), 1)
            row[f"{name}_latency_ms_batch1"] = round(1000 * seconds_per_image(model.read, images, 1, 50), 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="folder for the data and runs")
    parser.add_argument("--pairs", nargs="+", default=[f"{e}:{d}" for e in ENCODERS for d in DECODERS])
    parser.add_argument("--epochs", type=float, default=20)
    parser.add_argument("--epochs-for", nargs="*", default=[], metavar="ENCODER=N")
    parser.add_argument("--train-count", type=int, default=SPLITS["train"][0], help="labeled training captchas")
    parser.add_argument("--out", default=None, help="the result file (default: benchmarks/results/DATE-...)")
    args = parser.parse_args()
    epochs_for = {k: float(v) for k, v in (item.split("=") for item in args.epochs_for)}
    data = {}
    for split, (count, seed) in SPLITS.items():
        count = args.train_count if split == "train" else count
        data[split] = args.work / split
        if not data[split].exists():
            textssl("data", "captcha", data[split], "--count", count, "--seed", seed, "--labeled")
    measurements = {}
    for pair in args.pairs:
        encoder, decoder = pair.split(":")
        epochs = epochs_for.get(encoder, args.epochs)
        out = args.work / f"{encoder}-{decoder}-e{epochs:g}"
        options = ["--train", data["train"], "--val", data["val"], "--encoder", encoder, "--decoder", decoder,
                   "--epochs", epochs, "--batch-size", 64, "--lr", LR.get(encoder, "3e-3"), "--strength", 0.5,
                   "--val-every", 500]
        metrics, test = finetuned(out, options, data["test"])
        onnx_path = out / "model.onnx"
        if not onnx_path.is_file():
            start = time.time()
            textssl("export", out, "--out", onnx_path)
            export_seconds = time.time() - start
        else:
            export_seconds = None
        row = {"epochs": epochs, "lr": float(LR.get(encoder, "3e-3")), "test_word_accuracy": test["word_accuracy"],
               "cer": test["cer"], "val_word_accuracy": metrics["val_word_accuracy"],
               "parameters": metrics["parameters"], "steps": metrics["steps"],
               "train_seconds": round(metrics["train_seconds"], 1),
               "train_img_per_s": round(metrics["trained_steps"] * 64 / metrics["train_seconds"], 1),
               "export_seconds": export_seconds and round(export_seconds, 1),
               **speed_and_agreement(out, onnx_path, data["test"])}
        measurements[pair] = row
        print(pair, row, flush=True)
        write_result("cpu-recognizers", measurements, out=args.out, notes=[
            "train_img_per_s: training images over the run's wall time, validation every 500 steps included",
            "inference: Recognizer.read / OnnxModel.read on uint8 test images, decoding included, median of "
            "10 calls (batch 64) and 50 calls (batch 1)"])


if __name__ == "__main__":
    main()
