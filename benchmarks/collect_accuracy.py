"""Collect the runs of benchmarks/accuracy.sh into one JSON file with device and date.

    python benchmarks/collect_accuracy.py WORKDIR --out benchmarks/results/DATE-cpu-accuracy.json
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import math
from pathlib import Path

import torch
from benchmarks_common import device_name

from textssl.api import TextRecognizer
from textssl.data.dataset import LmdbTextDataset
from textssl.eval.evaluate import evaluate_samples
from textssl.train.finetune import FinetuneConfig

DEFAULT_WARMUP = next(f.default for f in dataclasses.fields(FinetuneConfig) if f.name == "warmup")


def training_set_word_accuracy(run: Path, options: dict, work: Path) -> float:
    """Word accuracy on the very labeled samples the run trained on: how far it memorised them."""
    reader = TextRecognizer.load(run, device="cpu")
    samples = LmdbTextDataset([str(work / p) for p in options["train"]], reader.spec, charset=reader.charset,
                              labeled=True, num_labels=options["num_labels"], seed=options["seed"],
                              max_frames=reader.model.frames(reader.spec))
    return evaluate_samples(reader, samples, batch_size=256)["word_accuracy"]


def finetuned(run: Path, work: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    test = json.loads((run / "test.json").read_text())
    options = config["finetune"]
    return {
        "run": run.name, "init": Path(options["init"]).name if options["init"] else None,
        "image": f"{config['image']['width']}x{config['image']['height']}",
        "protocol": options["protocol"], "labels": metrics["train_samples"],
        "shortcut": config["model"].get("shortcut", True),  # runs older than the option all had it
        "augment": options["augment"], "strength": options["strength"],
        "steps": metrics["steps"], "warmup": options["warmup"], "lr": options["lr"], "lr_whole": options["lr_whole"],
        "stages": metrics["stages"], "val_word_accuracy": metrics["val_word_accuracy"],
        "train_word_accuracy": training_set_word_accuracy(run, options, work),
        "test": {k: test[k] for k in ("word_accuracy", "one_minus_ned", "cer", "num_samples")},
        "train_seconds": round(metrics["train_seconds"], 1), "parameters": metrics["parameters"],
    }


def pretrained(run: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    with open(run / "logs" / "pretrain" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("collapse_std")]
    std = [(int(r["step"]), float(r["collapse_std"]), float(r["loss"])) for r in rows]
    dim = config["pretrain"]["proj_dim"]
    return {
        "run": run.name, "method": config["method"], "mapping": config["mapping"], "steps": metrics["steps"],
        "seconds": round(metrics["seconds"], 1), "samples": metrics["samples"],
        "options": {k: config["pretrain"][k] for k in ("batch_size", "optimizer", "lr", "augment", "features",
                                                       "windows", "head", "proj_dim", "temperature")},
        "loss_first_last": [std[0][2], std[-1][2]],
        "collapse_std": {"first": std[0][1], "last": std[-1][1], "min": min(s for _, s, _ in std),
                         "healthy_reference": 1 / math.sqrt(dim), "collapse_threshold": 0.5 / math.sqrt(dim)},
    }


def setting(run: dict) -> tuple:
    """What a fair comparison holds fixed: labels, recognizer, step budget, warm-up, views and image size."""
    return run["labels"], run["shortcut"], run["steps"], run["warmup"], run["augment"], run["strength"], run["image"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", help="the WORKDIR of accuracy.sh")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--render-size", help="the size python-captcha drew at before the resize (RENDER)")
    parser.add_argument("--note", action="append", default=[], help="a remark to keep with the figures (repeatable)")
    args = parser.parse_args()
    work = Path(args.work)
    runs = {p.name: finetuned(p, work) for p in sorted(work.iterdir()) if (p / "test.json").is_file()}
    comparison = {}  # per labels, recognizer, step budget, views and encoder; each arm at its best lr on validation
    for group in sorted({setting(r) for r in runs.values()}, reverse=True):
        cell = [r for r in runs.values() if setting(r) == group]
        baselines = [r for r in cell if r["init"] is None]
        if not baselines:
            continue
        best = max(baselines, key=lambda r: r["val_word_accuracy"])
        labels, shortcut, steps, warmup, augment, strength, _ = group
        for init in sorted({r["init"] for r in cell if r["init"] is not None}):
            ssl = max((r for r in cell if r["init"] == init), key=lambda r: r["val_word_accuracy"])
            name = (f"{labels} labels, {'shortcut' if shortcut else 'no-shortcut'}, {steps} steps, "
                    f"{augment} views x{strength}, {init}")
            if warmup != DEFAULT_WARMUP:
                name += f", warm-up {warmup}"
            comparison[name] = {
                "supervised_best_lr": best["lr"],
                # where every baseline ties on validation (all on CTC's blank plateau), the pick is arbitrary
                "supervised_lrs_tied_on_val": [r["lr"] for r in baselines
                                               if r["val_word_accuracy"] == best["val_word_accuracy"]],
                "supervised_test_word_accuracy": best["test"]["word_accuracy"],
                "ssl_init": ssl["init"], "ssl_protocol": ssl["protocol"], "ssl_best_lr": ssl["lr"],
                "ssl_best_lr_whole": ssl["lr_whole"] if ssl["protocol"] == "two-stage" else None,
                "ssl_test_word_accuracy": ssl["test"]["word_accuracy"],
                "points": round(100 * (ssl["test"]["word_accuracy"] - best["test"]["word_accuracy"]), 1),
                "supervised_train_word_accuracy": best["train_word_accuracy"],
                "ssl_train_word_accuracy": ssl["train_word_accuracy"],
            }
    sizes = ", ".join(sorted({r["image"] for r in runs.values()}))
    if args.render_size:
        sizes += f" (drawn at {args.render_size}, then resized)"
    result = {
        "date": datetime.date.today().isoformat(), "device": device_name(), "torch": torch.__version__,
        "data": f"python-captcha, digits + uppercase, 4-5 characters, grey {sizes}; unlabeled 50k (seed 4), "
                "labeled 10k (seed 1), validation 1k (seed 2), test 2k (seed 3)",
        "notes": args.note,
        "ssl_vs_supervised": comparison,
        "finetune_runs": list(runs.values()),
        "pretrain_runs": [pretrained(p) for p in sorted(work.iterdir()) if (p / "encoder.safetensors").is_file()],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ssl_vs_supervised"], indent=2))


if __name__ == "__main__":
    main()
