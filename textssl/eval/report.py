"""Study report: results.md (table beside the reference numbers), accuracy.png, and the Tesseract row."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from textssl.data.charset import Charset  # noqa: E402
from textssl.data.lmdb_io import LmdbReader  # noqa: E402
from textssl.eval.metrics import text_metrics  # noqa: E402
from textssl.train.run_dir import replaced_atomically  # noqa: E402


def tesseract_row(test_lmdb: str, charset: str) -> tuple[dict | None, str]:
    """(Tesseract's row on the test set (--psm 7, whitelist = the charset), or None; a note on how it went)."""
    if shutil.which("tesseract") is None:
        return None, "Tesseract: not on PATH, no row."
    chars = Charset.from_spec(charset).chars
    reader = LmdbReader(test_lmdb)
    targets = [reader.label(i) or "" for i in range(len(reader))]
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "images.txt"
        names = []
        for i in range(len(reader)):
            names.append(Path(tmp) / f"{i:06d}.png")
            names[-1].write_bytes(reader.image_bytes(i))
        listing.write_text("\n".join(map(str, names)) + "\n")
        start = time.time()
        result = subprocess.run(["tesseract", str(listing), "stdout", "--psm", "7", "-c",
                                 f"tessedit_char_whitelist={chars}"], capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"Tesseract: failed with exit status {result.returncode} ({reason}), no row."
    pages = result.stdout.split("\f")[: len(targets)]
    predictions = ["".join(page.split()) for page in pages] + [""] * (len(targets) - len(pages))
    row = {"method": "tesseract", "labels": 0, **text_metrics(predictions, targets), "finetune_seconds": 0.0,
           "pretrain_seconds": 0.0, "images_per_second": len(targets) / (time.time() - start)}
    return row, "Tesseract: --psm 7, whitelist = the charset, on the same test set."


def word_error_ratios(rows: list[dict]) -> dict[int, float]:
    """Per label budget: the word error of the SSL method best on validation / the supervised word error."""
    ratios = {}
    for labels in sorted({r["labels"] for r in rows if r["method"] == "supervised"}):
        same = [r for r in rows if r["labels"] == labels]
        sup = next(r for r in same if r["method"] == "supervised")
        ssl = [r for r in same if r["method"] not in ("supervised", "tesseract")]
        if ssl and sup["word_accuracy"] < 1:
            best = max(ssl, key=lambda r: r["val_word_accuracy"])  # chosen as the supervised lr is: not on test
            ratios[labels] = (1 - best["word_accuracy"]) / (1 - sup["word_accuracy"])
    return ratios


def markdown_table(preset: dict, rows: list[dict], notes: list[str] = ()) -> str:
    lines = [f"# Study `{preset['name']}`", "",
             "| method | labels | word accuracy | 1 - NED | CER | fine-tune s | pretrain s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['labels']} | {r['word_accuracy']:.4f} | {r['one_minus_ned']:.4f} | "
                     f"{r['cer']:.4f} | {r['finetune_seconds']:.0f} | {r['pretrain_seconds']:.0f} |")
    ratios = word_error_ratios(rows)
    if ratios:
        lines += ["", "Word error of the SSL method best on validation / supervised word error: "
                  + ", ".join(f"{n} labels: {v:.2f}x" for n, v in ratios.items())]
    chosen = [r for r in rows if r.get("lrs_tried")]
    if chosen:
        tried = ", ".join(f"{lr:g}" for lr in chosen[0]["lrs_tried"])
        lines += ["", f"Supervised learning rate, the best on validation of {tried}: "
                  + ", ".join(f"{r['labels']} labels: {r['lr']:g}" for r in chosen)]
    lines += ["", *notes] if notes else []
    reference = preset.get("reference", [])
    if reference:
        lines += ["", "Reference numbers (not measured here):", "",
                  "| method | labels | word accuracy | source |", "|---|---:|---:|---|"]
        lines += [f"| {r['method']} | {r['labels']} | {r['word_accuracy']} | {r['source']} |" for r in reference]
    return "\n".join(lines) + "\n"


def write_report(out: Path, preset: dict, rows: list[dict], notes: list[str] = ()) -> str:
    table = markdown_table(preset, rows, notes)
    with replaced_atomically(out / "results.md") as tmp:
        tmp.write_text(table)
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(r["method"] for r in rows if r["method"] != "tesseract"):
        points = sorted((r["labels"], r["word_accuracy"]) for r in rows if r["method"] == method)
        ax.plot(*zip(*points), marker="o", label=method)
    for r in rows:
        if r["method"] == "tesseract":
            ax.axhline(r["word_accuracy"], linestyle=":", color="grey", label="tesseract")
    ax.set_xscale("log")
    ax.set_xlabel("labeled images")
    ax.set_ylabel("word accuracy (test)")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(preset["name"])
    fig.tight_layout()
    with replaced_atomically(out / "accuracy.png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return table
