"""Study report: results.md (table beside the reference numbers), accuracy.png, and the Tesseract row."""
from __future__ import annotations

import shutil
import statistics
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


SUMMED = ("word_accuracy", "one_minus_ned", "cer", "val_word_accuracy", "finetune_seconds", "pretrain_seconds")


def summarise(rows: list[dict]) -> list[dict]:
    """One row per method and label budget, in the rows' order: the mean over its seeds of each figure,
    the word accuracy of each seed, and their sample standard deviation (0 for one seed)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["labels"]), []).append(r)
    summary = []
    for (method, labels), same in groups.items():
        row = {"method": method, "labels": labels, "seeds": [r.get("seed") for r in same],
               **{k: statistics.fmean(r[k] for r in same) for k in SUMMED if all(k in r for r in same)}}
        row["per_seed"] = [r["word_accuracy"] for r in same]
        row["word_accuracy_sd"] = statistics.stdev(row["per_seed"]) if len(same) > 1 else 0.0
        summary.append(row)
    return summary


def _ratio(ssl: float, supervised: float) -> float:
    return (1 - ssl) / (1 - supervised)


def word_error_ratios(rows: list[dict]) -> dict[int, tuple[float, list[float]]]:
    """Per label budget: (the mean word error over seeds of the SSL method best on validation / the
    supervised one, the same ratio for each seed, whose cells share their labeled subset)."""
    summary, ratios = summarise(rows), {}
    for labels in dict.fromkeys(r["labels"] for r in summary if r["method"] == "supervised"):
        same = [r for r in summary if r["labels"] == labels]
        sup = next(r for r in same if r["method"] == "supervised")
        ssl = [r for r in same if r["method"] not in ("supervised", "tesseract")]
        if ssl and sup["word_accuracy"] < 1:
            best = max(ssl, key=lambda r: r["val_word_accuracy"])  # chosen as the supervised lr is: not on test
            paired = [_ratio(a, b) for a, b in zip(best["per_seed"], sup["per_seed"]) if b < 1]
            ratios[labels] = (_ratio(best["word_accuracy"], sup["word_accuracy"]), paired)
    return ratios


def _by_labels(rows: list[dict], text) -> str:
    """'N labels: a / b, M labels: ...', with one text per row (seed) of each label budget."""
    budgets = {}
    for r in rows:
        budgets.setdefault(r["labels"], []).append(text(r))
    return ", ".join(f"{n} labels: {' / '.join(parts)}" for n, parts in budgets.items())


def _table(summary: list[dict], seeds: list) -> list[str]:
    head, rule = "| method | labels | word accuracy |", "|---|---:|---:|"
    if len(seeds) > 1:
        head, rule = head + " ± sd | per seed |", rule + "---:|---|"
    lines = [head + " 1 - NED | CER | fine-tune s | pretrain s |", rule + "---:|---:|---:|---:|"]
    for r in summary:
        spread = ""
        if len(seeds) > 1:
            per_seed = " / ".join(f"{a:.4f}" for a in r["per_seed"])
            spread = f" {r['word_accuracy_sd']:.4f} | {per_seed} |" if r["method"] != "tesseract" else " | |"
        lines.append(f"| {r['method']} | {r['labels']} | {r['word_accuracy']:.4f} |{spread} {r['one_minus_ned']:.4f} "
                     f"| {r['cer']:.4f} | {r['finetune_seconds']:.0f} | {r['pretrain_seconds']:.0f} |")
    return lines


def markdown_table(preset: dict, rows: list[dict], notes: list[str] = ()) -> str:
    summary = summarise(rows)
    seeds = list(dict.fromkeys(r.get("seed") for r in rows if r["method"] != "tesseract"))
    lines = [f"# Study `{preset['name']}`", ""]
    if len(seeds) > 1:
        lines += [f"Means over seeds {', '.join(map(str, seeds))}, each its own labeled subset, initialisation, "
                  "shuffle and views; fine-tune s per cell.", ""]
    lines += _table(summary, seeds)
    ratios = word_error_ratios(rows)
    if ratios:
        lines += ["", "Word error of the SSL method best on validation / supervised word error: " + ", ".join(
            f"{n} labels: {mean:.2f}x" + (f" (per seed {' / '.join(f'{v:.2f}x' for v in per)})" if len(seeds) > 1
                                          else "") for n, (mean, per) in ratios.items())]
    chosen = [r for r in rows if r.get("lrs_tried")]
    if chosen:
        tried = ", ".join(f"{lr:g}" for lr in chosen[0]["lrs_tried"])
        own = ", ".join(f"{k} {v}" for k, v in preset.get("supervised", {}).items() if k != "lrs")
        lines += ["", f"Supervised learning rate, the best on validation of {tried}: "
                  + _by_labels(chosen, lambda r: f"{r['lr']:g}") + (f"; its own {own}" if own else "")]
    blank = []
    for r in summary:
        zero = [str(seed) for seed, a in zip(r["seeds"], r["per_seed"]) if a == 0]
        if zero and r["method"] != "tesseract":
            which = f" (seed{'s' * (len(zero) > 1)} {', '.join(zero)})" if len(seeds) > 1 else ""
            blank.append(f"{r['method']} at {r['labels']} labels{which}")
    if blank:
        lines += ["", "Read no word of the test set (a recognizer still on CTC's all-blank plateau reads none): "
                  + ", ".join(blank)]
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
    summary = summarise(rows)
    for method in dict.fromkeys(r["method"] for r in summary if r["method"] != "tesseract"):
        points = sorted((r["labels"], r["word_accuracy"], r["word_accuracy_sd"]) for r in summary
                        if r["method"] == method)
        labels, accuracy, sd = zip(*points)
        ax.errorbar(labels, accuracy, yerr=sd if any(sd) else None, marker="o", capsize=3, label=method)
    for r in rows:
        if r["method"] == "tesseract":
            ax.axhline(r["word_accuracy"], linestyle=":", color="grey", label="tesseract")
    ax.set_xscale("log")
    ax.set_xlabel("labeled images")
    spread = any(r["word_accuracy_sd"] for r in summary)
    ax.set_ylabel("word accuracy (test)" + (", mean ± sd over seeds" if spread else ""))
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(preset["name"])
    fig.tight_layout()
    with replaced_atomically(out / "accuracy.png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return table
