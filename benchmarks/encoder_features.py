"""How many dimensions a pretrained encoder's features use: for every pretraining run of a study, the
effective rank (Roy & Vetterli 2007: exp of the entropy of the normalised squared singular values)
of the encoder's frame features on held-out images, beside their mean magnitude and their spread
across images and across the frames of one image. A projection head can look healthy (the collapse
indicator) while the encoder under it uses a handful of dimensions: a dimensional collapse that a
frozen decoder then cannot read.

    python benchmarks/encoder_features.py STUDY_OR_RUN... --data LMDB [--images 256] [--out FILE]

A STUDY's pretraining runs (STUDY/pretrain/*), or a pretraining run itself.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from benchmarks_common import write_result
from textssl.data.dataset import ImageSpec, LmdbTextDataset, collate
from textssl.models.assembly import Assembly
from textssl.models.recognizer import PretrainBackbone


def effective_rank(features: torch.Tensor) -> float:
    """features [N, D] -> exp(entropy of p), p = the centred features' squared singular values, normalised."""
    centred = features - features.mean(0)
    p = torch.linalg.svdvals(centred.double()).pow(2)
    p = p / p.sum()
    return float(torch.exp(-(p * p.clamp_min(1e-300).log()).sum()))


def describe(run: Path, images: torch.Tensor) -> dict:
    config = json.loads((run / "config.json").read_text())
    backbone = PretrainBackbone(Assembly.from_dict(config["assembly"], str(run)),
                                config["pretrain"].get("features", "visual"))
    backbone.load_state_dict(load_file(run / "encoder.safetensors"))
    backbone.eval()
    with torch.no_grad():
        seq = backbone.encoder(images)  # [B, T, D]: the encoder's own frames, before any sequence model
    return {"method": config.get("method"), "dim": seq.shape[-1],
            "effective_rank": effective_rank(seq.flatten(0, 1)),
            "mean_abs": float(seq.abs().mean()), "std_across_images": float(seq.mean(1).std(0).mean()),
            "std_across_frames": float(seq.std(1).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="study folders or pretraining runs")
    parser.add_argument("--data", required=True, help="held-out images (an LMDB)")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = {}
    for path in map(Path, args.paths):
        runs = [path] if (path / "encoder.safetensors").is_file() else sorted(path.glob("pretrain/*"))
        for run in runs:
            if not (run / "encoder.safetensors").is_file():
                continue
            config = json.loads((run / "config.json").read_text())
            image = config["image"]
            dataset = LmdbTextDataset([args.data], ImageSpec(image["height"], image["width"], image["channels"]))
            batch = collate([dataset[i] for i in range(min(args.images, len(dataset)))])
            torch.manual_seed(0)
            rows[f"{run.parent.parent.name}/{run.name}" if run != path else run.name] = row = describe(run, batch.images.float() / 255)
            print(run.name, json.dumps(row))
    path = write_result("cpu-encoder-features", {"data": args.data, "images": args.images, "runs": rows},
                        notes=["effective rank over every frame of the held-out images (N = images x frames)"],
                        out=args.out)
    print(path)


if __name__ == "__main__":
    main()
