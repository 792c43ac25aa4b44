"""textssl as a new user meets it: folders of text-line images it has never seen, the README's commands,
no --charset after the import, every budget and learning rate at its default.

The images: random strings of lowercase letters and digits, 3 to 12 of them, rendered in the STIX
and Computer Modern fonts (none of the fonts of the other benchmarks' lines), written as PNG files:
10,000 unlabeled (plus three files that are not images), and 3,500 labeled with a gt.txt, split into
1,000 for training, 500 for validation and 2,000 for testing. Then: import the unlabeled folder
(its rate in images/s), import the three labeled ones, pretrain SeqCLR, fine-tune the supervised
recognizer and the pretrained one (--init, --protocol two-stage), with --self-train also self-train
the pretrained one on the unlabeled images, evaluate them and predict a few images. Also the start-up time of
``textssl --help`` and of an evaluate with a mistyped path, against ``python -c pass``.

    python benchmarks/new_user.py WORKDIR [--self-train]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchmarks_common import finished, read_json, textssl, write_result

FONTS = "stix,cm"


def seconds(command: list[str], repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs of ``command``: its start-up cost without the machine's noise."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True)
        times.append(time.perf_counter() - start)
    return round(min(times), 3)


def folders(work: Path) -> dict[str, Path]:
    unlabeled, labeled = work / "my-unlabeled-images", work / "my-labeled-images"
    if not unlabeled.exists():
        textssl("data", "render", unlabeled, "--count", 10000, "--fonts", FONTS, "--seed", 21, "--folder")
        (unlabeled / "images" / "notes.txt").write_text("not an image, not listed")
        (unlabeled / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
        (unlabeled / "images" / "empty.jpg").write_bytes(b"")
        (unlabeled / "images" / "scan.tif").write_bytes(b"II*\x00 not a tiff")
    if not labeled.exists():
        textssl("data", "render", labeled, "--count", 3500, "--labeled", "--fonts", FONTS, "--seed", 22, "--folder")
        rows = (labeled / "gt.txt").read_text().splitlines(keepends=True)
        for name, part in (("train", rows[:1000]), ("val", rows[1000:1500]), ("test", rows[1500:])):
            (labeled / f"{name}.txt").write_text("".join(part))
    return {"unlabeled": unlabeled, "labeled": labeled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--self-train", action="store_true", help="also self-train the pretrained recognizer")
    args = parser.parse_args()
    work, source = args.work, folders(args.work)
    m: dict = {}
    if not (work / "unlabeled").exists():
        start = time.perf_counter()
        printed = textssl("data", "import", work / "unlabeled", "--images", source["unlabeled"] / "images")
        (work / "import-unlabeled.txt").write_text(printed + f"seconds {time.perf_counter() - start:.2f}\n")
    m["import_unlabeled"] = (work / "import-unlabeled.txt").read_text().splitlines()
    for split in ("train", "val", "test"):
        if not (work / split).exists():
            textssl("data", "import", work / split, "--images", source["labeled"], "--labels",
                    source["labeled"] / f"{split}.txt")
    steps = {
        "pretrain": ["pretrain", "--method", "seqclr", "--data", work / "unlabeled", "--out", work / "pre"],
        "supervised": ["finetune", "--train", work / "train", "--val", work / "val", "--out", work / "supervised"],
        "seqclr": ["finetune", "--train", work / "train", "--val", work / "val", "--out", work / "seqclr",
                   "--init", work / "pre", "--protocol", "two-stage"],
        "seqclr+self-train": ["finetune", "--train", work / "train", "--val", work / "val", "--out",
                              work / "seqclr-self-train", "--init", work / "seqclr", "--protocol", "self-train",
                              "--unlabeled", work / "unlabeled"],
    }
    if not args.self_train:
        del steps["seqclr+self-train"]
    for name, command in steps.items():
        out = Path(command[command.index("--out") + 1])
        if not finished(out):
            textssl(*command, "--no-progress")
        metrics = read_json(out / "metrics.json")
        if name == "pretrain":
            m[name] = {"steps": metrics["steps"], "seconds": round(metrics["seconds"], 1), "loss": metrics["loss"]}
            continue
        if not (out / "test.json").is_file():
            textssl("evaluate", out, "--data", work / "test", "--json", out / "test.json")
        test = read_json(out / "test.json")
        m[name] = {"command": "textssl " + " ".join(str(c).replace(str(work) + "/", "") for c in command),
                   "test_word_accuracy": test["word_accuracy"], "cer": test["cer"], "test_images": test["num_samples"],
                   "val_word_accuracy": metrics["val_word_accuracy"], "plateau": metrics["plateau"],
                   "train_seconds": round(metrics["train_seconds"], 1),
                   **({"self_training": metrics["self_training"]} if "self_training" in metrics else {})}
        print(name, m[name]["test_word_accuracy"], flush=True)
    m["charset"] = (work / "seqclr" / "charset.txt").read_text()
    images = sorted((source["labeled"] / "images").glob("*.png"))[-3:]
    m["predict"] = textssl("predict", work / "seqclr", *images).replace(str(source["labeled"]) + "/", "").splitlines()
    m["startup_seconds"] = {
        "python -c pass": seconds([sys.executable, "-c", "pass"]),
        "textssl --help": seconds([sys.executable, "-m", "textssl", "--help"]),
        "textssl evaluate RUN --data missing/": seconds([sys.executable, "-m", "textssl", "evaluate",
                                                        str(work / "seqclr"), "--data", str(work / "missing")]),
    }
    print(m["startup_seconds"])
    print(write_result("cpu-new-user", m, notes=[
        "folders of PNG files rendered with textssl data render --fonts stix,cm (lowercase letters and digits, 3-12 "
        "characters); every command as the README gives it, with its defaults; no --charset after the import",
        "start-up seconds: the fastest of 5 runs of each command"]))


if __name__ == "__main__":
    main()
