"""Fine-tuning defaults measured on three kinds of data: textssl's captchas and two sets of printed lines.

For each kind: 20,000 unlabeled images, 1,000 labeled for training, 500 for validation, 2,000 for
testing; SeqCLR pretrained with every default; then, at the default budget,
the supervised recognizer with its defaults, ``--init PRE --protocol two-stage`` with nothing else
given, two-stage at the seed's GPU pair of learning rates (1e-3 head, 3e-5 whole network: the old
default) and ``--protocol full`` from the pretrained encoder.
Every finished run is kept in WORKDIR and skipped when the script runs again.

    python benchmarks/defaults.py WORKDIR [--kinds captcha lines digits] [--runs ...] [--pretrain-steps N]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks_common import finetuned, finished, read_json, textssl, write_result

KINDS = {
    "captcha": ["captcha"],  # textssl's default captchas: 128x32, digits + uppercase, 4-5 characters
    "lines": ["render", "--charset", "lower36", "--fonts", "sans,serif,stix", "--min-len", "3", "--max-len", "12"],
    "digits": ["render", "--charset", "digits", "--fonts", "mono,cm", "--min-len", "4", "--max-len", "10",
               "--invert", "0.5"],
}
SPLITS = {"unlabeled": (20000, 0), "train": (1000, 1), "val": (500, 2), "test": (2000, 3)}
RUNS = {
    "supervised": [],
    "two-stage": ["--protocol", "two-stage"],
    "two-stage-seed-gpu-pair": ["--protocol", "two-stage", "--lr", "1e-3", "--lr-whole", "3e-5"],
    "full-from-init": ["--protocol", "full"],
}


def make_data(work: Path, kind: str, existing: Path | None = None) -> dict[str, Path]:
    """The kind's splits (made once in WORK/KIND), or a study's data in ``existing`` (unlabeled, labeled, val and
    test, its SeqCLR encoder in ``pre``): textssl demo's, to test the defaults on the demo's captchas."""
    if existing:
        image = read_json(existing / "pre" / "config.json")["image"]  # the study's size, for the supervised arm too
        return {"unlabeled": existing / "unlabeled", "train": existing / "labeled", "val": existing / "val",
                "test": existing / "test", "pretrain": existing / "pre",
                "size": ["--width", image["width"], "--height", image["height"]]}
    paths = {"pretrain": work / kind / "pretrain"}
    for split, (count, seed) in SPLITS.items():
        paths[split] = work / kind / split
        if not paths[split].exists():
            labeled = [] if split == "unlabeled" else ["--labeled"]
            textssl("data", *KINDS[kind][:1], paths[split], *KINDS[kind][1:], "--count", count, "--seed", seed,
                    *labeled)
    return paths


def run(work: Path, kind: str, data: dict, name: str, options: list[str]) -> dict:
    out, pre = work / kind / name, data["pretrain"]
    init = ["--init", pre] if name != "supervised" else []
    metrics, test = finetuned(out, ["--train", data["train"], "--val", data["val"], *init, *options,
                                    *data.get("size", []), "--num-labels", SPLITS["train"][0]], data["test"])
    return {"options": " ".join(map(str, [*(["--init PRE"] if init else []), *options])) or "(defaults)",
            "test_word_accuracy": test["word_accuracy"], "val_word_accuracy": metrics["val_word_accuracy"],
            "cer": test["cer"], "plateau": metrics["plateau"], "steps": metrics["steps"],
            "stages": metrics["stages"], "train_seconds": round(metrics["train_seconds"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="folder for the data and runs")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--pretrain-steps", type=int, default=None, help="(default: pretrain's own budget)")
    parser.add_argument("--captcha-data", type=Path, default=None,
                        help="for the kind 'captcha', a study's data folder and its encoder (textssl demo's)")
    args = parser.parse_args()
    budget = ["--max-steps", args.pretrain_steps] if args.pretrain_steps else []
    measurements = {}
    for kind in args.kinds:
        existing = args.captcha_data if kind == "captcha" else None
        data = make_data(args.work, kind, existing)
        pre = data["pretrain"]
        if not finished(pre):
            textssl("pretrain", "--method", "seqclr", "--data", data["unlabeled"], "--out", pre, *budget,
                    "--no-progress")
        pretrained = read_json(pre / "metrics.json")
        described = f"textssl demo's data in {existing} (its first 1,000 labeled)" if existing else \
            " ".join(KINDS[kind]) + f"; {', '.join(f'{s} {c}' for s, (c, _) in SPLITS.items())}"
        measurements[kind] = {"data": described,
                              "pretrain": {"steps": pretrained["steps"], "seconds": round(pretrained["seconds"], 1),
                                           "loss": pretrained.get("loss")},
                              "runs": {name: run(args.work, kind, data, name, RUNS[name]) for name in args.runs}}
        print(kind, {name: r["test_word_accuracy"] for name, r in measurements[kind]["runs"].items()}, flush=True)
    path = write_result("cpu-defaults", measurements, notes=[
        f"SeqCLR pretrained with every default{f' but --max-steps {args.pretrain_steps}' if budget else ''} at batch "
        "128; each fine-tuning run with finetune's defaults (the budget, learning rates, views) and only the options "
        "shown, on 1,000 labels; word accuracy on 2,000 test images"])
    print(path)


if __name__ == "__main__":
    main()
