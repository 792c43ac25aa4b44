"""How well each pretext task is solved on held-out images after pretraining: the task accuracy of
rotation, patch-position and jigsaw (beside chance), the pixel error of the generative methods (beside
the same method at its initial weights, BatchNorm statistics taken from 4 batches), on images the pretraining never saw, with the run's own views.

    python benchmarks/pretext_heldout.py STUDY --data STUDY/data/test/lmdb [--batches 8] [--out FILE]

Reads every pretraining run under STUDY/pretrain whose method is a pretext task, from its last
checkpoint.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from benchmarks_common import write_result
from textssl.data.dataset import ImageSpec, LmdbTextDataset, make_loader
from textssl.methods import build_method, method_class
from textssl.methods.base import ViewMaker
from textssl.methods.pretext import GenerativeMethod, PretextMethod
from textssl.train.pretrain import LAST_CHECKPOINT, _backbone, load_checkpoint, pretrain_config


def calibrate(method, maker, loader, batches: int = 4) -> None:
    """BatchNorm statistics of ``batches`` batches, no weight change: at their initial values they would not
    normalise, and the initial method would read worse than its weights do (as textssl's save_untrained)."""
    norms = [m for m in method.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    method.train()
    with torch.no_grad():
        for _, batch in zip(range(batches), loader):
            method(maker(batch.images, batch.widths))


def evaluate(method, maker, loader, batches: int) -> dict:
    method.eval()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    correct = total = seen = 0
    errors = []
    with torch.no_grad():
        for _, batch in zip(range(batches), loader):
            inputs = maker(batch.images, batch.widths)
            seen += len(batch.images)
            if isinstance(method, PretextMethod):
                right, count = method.accuracy(inputs, generator)
                correct, total = correct + right, total + count
            else:
                errors.append(method.reconstruction_error(inputs, generator))
    if isinstance(method, PretextMethod):
        return {"task_accuracy": correct / total, "images": total}
    return {"reconstruction_error": sum(errors) / len(errors), "images": seen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study")
    parser.add_argument("--data", required=True, help="held-out images (an LMDB)")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = {}
    for run in sorted(Path(args.study, "pretrain").iterdir()):
        config = json.loads((run / "config.json").read_text())
        name = config.get("method")
        if name not in {"rotation", "patch-position", "jigsaw", "colorization", "autoencoder", "inpainting",
                        "siman"}:
            continue
        cfg = pretrain_config({"out": str(run), "resume": True})
        spec = ImageSpec(cfg.height, cfg.width, cfg.channels)
        loader = make_loader(LmdbTextDataset([args.data], spec), 128, shuffle=False, workers=0, in_memory=False)
        options = method_class(name).Options(**cfg.method_options)
        initial = build_method(name, _backbone(cfg)[2], options)  # the seed's initial weights
        maker = ViewMaker(initial, cfg.augment, cfg.strength)
        torch.manual_seed(1)
        calibrate(initial, maker, loader)
        row = {"at initialisation": evaluate(initial, maker, loader, args.batches)}
        trained = build_method(name, _backbone(cfg)[2], options)
        state = load_checkpoint(run / LAST_CHECKPOINT)["state_dict"]
        trained.load_state_dict({k[len("method."):]: v for k, v in state.items() if k.startswith("method.")})
        row["pretrained"] = evaluate(trained, maker, loader, args.batches)
        if isinstance(trained, PretextMethod):
            row["chance"] = 1 / trained.classifier.net[-1].out_features
        assert isinstance(trained, (PretextMethod, GenerativeMethod))
        rows[run.name] = row
        print(run.name, json.dumps(row))
    path = write_result("cpu-pretext-heldout", {"study": str(args.study), "data": args.data, "methods": rows},
                        notes=[f"{args.batches} batches of 128 held-out images, the run's own views, seed 0"],
                        out=args.out)
    print(path)


if __name__ == "__main__":
    main()
