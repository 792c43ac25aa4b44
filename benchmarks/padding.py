"""What padding with the image's background and leaving the padding frames out of SSL changes, on
printed lines of varying width (benchmarks/defaults.py's 'lines': 3 to 12 characters, so that most
images are narrower than the model's 128 pixels and padded).

The same commands run on this checkout and on OLD, a checkout of the code before the change (images
padded with black, every frame an SSL instance, the crop over the whole padded width): SeqCLR
pretrained with its defaults, then the supervised recognizer and two-stage fine-tuning from the
encoder, both at the default budget and learning rates of this checkout, on 1,000 labels.

    git worktree add OLD 253ad74 && python benchmarks/padding.py WORKDIR --old OLD
"""
from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks_common import finished, read_json, textssl, write_result
from defaults import make_data

from textssl.train.options import FINETUNE_STEPS, FinetuneConfig

SHARED = ["--max-steps", FINETUNE_STEPS, "--charset", "lower36", "--no-progress"]  # the old code has neither default


def padded_share(lmdb: Path) -> dict:
    """How many of the images are narrower than 128 pixels at height 32, and their mean content width."""
    from textssl.data.dataset import ImageSpec, LmdbTextDataset

    dataset = LmdbTextDataset(str(lmdb), ImageSpec())
    widths = [dataset.decoded(i)[1] for i in range(len(dataset))]
    return {"share": sum(w < 128 for w in widths) / len(widths), "mean_content_width": sum(widths) / len(widths)}


def arms(old: str) -> dict[str, str | None]:
    return {"background padding, content widths (this checkout)": None, "black padding (the code before)": old}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--old", required=True, help="a checkout of the code before the change")
    args = parser.parse_args()
    data = make_data(args.work, "lines")
    lr, lr_whole = FinetuneConfig.lr, FinetuneConfig.lr_whole
    measurements = {}
    for name, code in arms(args.old).items():
        tag = "old" if code else "new"
        pre = args.work / f"pretrain-{tag}"
        if not finished(pre):
            textssl("pretrain", "--method", "seqclr", "--data", data["unlabeled"], "--out", pre, "--no-progress",
                    pythonpath=code)
        runs = {"supervised": [], "two-stage": ["--init", pre, "--protocol", "two-stage", "--lr", lr,
                                                "--lr-whole", lr_whole]}
        measurements[name] = {"pretrain_loss": read_json(pre / "metrics.json").get("loss")}
        for arm, options in runs.items():
            out = args.work / f"{arm}-{tag}"
            if not finished(out):
                textssl("finetune", "--train", data["train"], "--val", data["val"], "--out", out, *SHARED, *options,
                        pythonpath=code)
            if not (out / "test.json").is_file():
                textssl("evaluate", out, "--data", data["test"], "--json", out / "test.json", pythonpath=code)
            measurements[name][arm] = {"test_word_accuracy": read_json(out / "test.json")["word_accuracy"],
                                       "val_word_accuracy": read_json(out / "metrics.json")["val_word_accuracy"]}
        print(name, measurements[name], flush=True)
    measurements["test_images_padded"] = padded_share(data["test"])
    path = write_result("cpu-padding", measurements, notes=[
        f"lines: render --charset lower36 --fonts sans,serif,stix, 3-12 characters at height 32; 20,000 unlabeled, "
        f"1,000 labeled, 2,000 test; fine-tuning {FINETUNE_STEPS} steps, two-stage at {lr:g} / {lr_whole:g}; the "
        f"old code from {args.old}"])
    print(path)


if __name__ == "__main__":
    main()
