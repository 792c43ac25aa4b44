"""What padding with the image's background and leaving the padding frames out of SSL changes, on
printed lines of varying width: benchmarks/new_user.py's lines (3 to 12 characters, so that most
images are narrower than the model's 128 pixels and padded).

This checkout's arm is new_user.py's runs (SeqCLR pretrained with its defaults, then the supervised
recognizer and two-stage fine-tuning from the encoder, each with finetune's defaults); the old arm
runs the same commands on OLD, a checkout of the code before the change (images padded with black,
every frame an SSL instance, the crop over the whole padded width), with the budget, learning rates
and charset that this checkout's defaults chose given explicitly (the old code has other defaults).

    python benchmarks/new_user.py WORK && git worktree add OLD 253ad74 && \
    python benchmarks/padding.py WORK --old OLD
"""
from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks_common import finetuned, finished, read_json, textssl, write_result

from textssl.train.options import FINETUNE_STEPS, FinetuneConfig

RUNS = {"pretrain": "pre", "supervised": "supervised", "two-stage": "seqclr"}  # new_user.py's run folders


def padded_share(lmdb: Path) -> dict:
    """How many of the images are narrower than 128 pixels at height 32, and their mean content width."""
    from textssl.data.dataset import ImageSpec, LmdbTextDataset

    dataset = LmdbTextDataset(str(lmdb), ImageSpec())
    widths = [dataset.decoded(i)[1] for i in range(len(dataset))]
    return {"share": round(sum(w < 128 for w in widths) / len(widths), 3),
            "mean_content_width": round(sum(widths) / len(widths), 1)}


def scores(run: Path) -> dict:
    return {"test_word_accuracy": read_json(run / "test.json")["word_accuracy"],
            "val_word_accuracy": read_json(run / "metrics.json")["val_word_accuracy"]}


def old_arm(work: Path, old: str) -> dict:
    out = work / "padding-old"
    pre = out / "pre"
    if not finished(pre):
        textssl("pretrain", "--method", "seqclr", "--data", work / "unlabeled", "--out", pre, "--no-progress",
                pythonpath=old)
    charset = (work / RUNS["two-stage"] / "charset.txt").read_text().strip("\n")
    shared = ["--max-steps", FINETUNE_STEPS, "--lr", FinetuneConfig.lr, "--charset", f"chars:{charset}"]
    arms = {"supervised": [], "two-stage": ["--init", pre, "--protocol", "two-stage", "--lr-whole",
                                            FinetuneConfig.lr_whole]}
    result = {"pretrain_loss": read_json(pre / "metrics.json").get("loss")}
    for arm, options in arms.items():
        finetuned(out / arm, ["--train", work / "train", "--val", work / "val", *shared, *options], work / "test",
                  pythonpath=old)
        result[arm] = scores(out / arm)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="benchmarks/new_user.py's folder, its runs finished")
    parser.add_argument("--old", required=True, help="a checkout of the code before the change")
    args = parser.parse_args()
    new = {"pretrain_loss": read_json(args.work / RUNS["pretrain"] / "metrics.json").get("loss"),
           **{arm: scores(args.work / RUNS[arm]) for arm in ("supervised", "two-stage")}}
    measurements = {"background padding, content widths (this checkout)": new,
                    "black padding (the code before)": old_arm(args.work, args.old),
                    "test_images_padded": padded_share(args.work / "test")}
    print(measurements, flush=True)
    print(write_result("cpu-padding", measurements, notes=[
        "new_user.py's lines: lowercase letters and digits, 3-12 characters, STIX and Computer Modern, height 32; "
        f"10,000 unlabeled, 1,000 labeled, 2,000 test; fine-tuning {FINETUNE_STEPS} steps at {FinetuneConfig.lr:g}, "
        f"two-stage's whole stage at {FinetuneConfig.lr_whole:g}; the old code from {args.old}"]))


if __name__ == "__main__":
    main()
