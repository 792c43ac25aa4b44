"""Study report: results.md (table beside the reference numbers), accuracy.png, and the Tesseract row."""
from __future__ import annotations

import csv
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
from textssl.run_dir import replaced_atomically  # noqa: E402


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
    row = {"method": "tesseract", "labels": 0, "seed": None, **text_metrics(predictions, targets), "finetune_seconds": 0.0,
           "pretrain_seconds": 0.0, "images_per_second": len(targets) / (time.time() - start)}
    return row, "Tesseract: --psm 7, whitelist = the charset, on the same test set."


TASK_CURVES = ("task_accuracy", "reconstruction")


def pretraining_curve(run: str | Path) -> dict | None:
    """The loss and collapse indicator of a pretraining run at its first and last logged step, and the
    indicator's lowest value (logs/pretrain*/metrics.csv, resumed parts included); None if it logged none."""
    points = []
    for log in sorted(Path(run).glob("logs/pretrain*/metrics.csv")):
        with log.open() as f:
            points += [r for r in csv.DictReader(f) if r.get("collapse_std")]
    if not points:
        return None
    points.sort(key=lambda r: int(r["step"]))
    collapse = [float(r["collapse_std"]) for r in points]
    curve = {"steps_logged": [int(points[0]["step"]), int(points[-1]["step"])], "loss": [float(points[0]["loss"]),
             float(points[-1]["loss"])], "collapse_std": [collapse[0], collapse[-1]], "collapse_std_min": min(collapse)}
    for name in TASK_CURVES:  # a pretext task's accuracy, a generative method's pixel error
        if points[0].get(name) and points[-1].get(name):
            curve[name] = [float(points[0][name]), float(points[-1][name])]
    return curve


def _pretraining_lines(curves: dict[str, dict]) -> list[str]:
    if not curves:
        return []
    lines = ["", "Pretraining (first and last logged step; collapse indicator: the per-dimension standard deviation of "
             "the normalised embeddings, 1/sqrt(dim) when spread out, 0 when collapsed):", "",
             "| method | loss first -> last | collapse first -> last | collapse lowest | task accuracy first -> last "
             "| reconstruction error first -> last |", "|---|---:|---:|---:|---:|---:|"]
    for method, c in curves.items():
        tasks = [f"{c[name][0]:.3f} -> {c[name][1]:.3f}" if name in c else "" for name in TASK_CURVES]
        lines.append(f"| {method} | {c['loss'][0]:.3f} -> {c['loss'][1]:.3f} | {c['collapse_std'][0]:.4f} -> "
                     f"{c['collapse_std'][1]:.4f} | {c['collapse_std_min']:.4f} | {' | '.join(tasks)} |")
    return lines


SUMMED = ("word_accuracy", "one_minus_ned", "cer", "val_word_accuracy", "finetune_seconds", "pretrain_seconds")
SELF_TRAIN = "+self-train"


def _is_ssl(method: str) -> bool:
    return method not in ("supervised", "tesseract", "untrained") and not method.endswith(SELF_TRAIN)


def summarise(rows: list[dict]) -> list[dict]:
    """One row per recognizer, method and label budget, in the rows' order: the mean over its seeds of
    each figure, the word accuracy of each seed, and their sample standard deviation (0 for one seed)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r.get("recognizer", ""), r["method"], r.get("protocol"), r["labels"]), []).append(r)
    summary = []
    for (recognizer, method, protocol, labels), same in groups.items():
        row = {**({"recognizer": recognizer} if recognizer else {}), "method": method,
               **({"protocol": protocol} if protocol else {}), "labels": labels,
               "seeds": [r.get("seed") for r in same],
               **{k: statistics.fmean(r[k] for r in same) for k in SUMMED if all(k in r for r in same)}}
        row["per_seed"] = [r["word_accuracy"] for r in same]
        row["word_accuracy_sd"] = statistics.stdev(row["per_seed"]) if len(same) > 1 else 0.0
        summary.append(row)
    return summary


def _ratio(ssl: float, supervised: float) -> float:
    return (1 - ssl) / (1 - supervised)


def word_error_ratios(rows: list[dict], recognizer: str = "") -> dict[int, tuple[float, list[float]]]:
    """Per label budget, for one recognizer: (the mean word error over seeds of the SSL method best on
    validation / the supervised one, the same ratio for each seed, whose cells share their labeled subset)."""
    summary, ratios = [r for r in summarise(rows) if r.get("recognizer", "") == recognizer], {}
    for labels in dict.fromkeys(r["labels"] for r in summary if r["method"] == "supervised"):
        same = [r for r in summary if r["labels"] == labels]
        sup = next(r for r in same if r["method"] == "supervised")
        ssl = [r for r in same if _is_ssl(r["method"])]
        if ssl and sup["word_accuracy"] < 1:
            best = max(ssl, key=lambda r: r["val_word_accuracy"])  # chosen as the supervised lr is: not on test
            paired = [_ratio(a, b) for a, b in zip(best["per_seed"], sup["per_seed"]) if b < 1]
            ratios[labels] = (_ratio(best["word_accuracy"], sup["word_accuracy"]), paired)
    return ratios


def strongest_from_scratch(summary: list[dict]) -> dict[int, dict]:
    """Per label budget: the supervised row (of any recognizer) best on validation."""
    best = {}
    for r in summary:
        if r["method"] == "supervised" and (r["labels"] not in best
                                            or r["val_word_accuracy"] > best[r["labels"]]["val_word_accuracy"]):
            best[r["labels"]] = r
    return best


def _by_labels(rows: list[dict], text) -> str:
    """'N labels: a / b, M labels: ...', with one text per row (seed) of each label budget."""
    budgets = {}
    for r in rows:
        budgets.setdefault(r["labels"], []).append(text(r))
    return ", ".join(f"{n} labels: {' / '.join(parts)}" for n, parts in budgets.items())


def _arm(r: dict) -> str:
    arm = f"{r['recognizer']} {r['method']}" if r.get("recognizer") else r["method"]
    return f"{arm} ({r['protocol']})" if r.get("protocol") else arm


def _table(summary: list[dict], seeds: list, compare: bool) -> list[str]:
    named, tuned = any("recognizer" in r for r in summary), any("protocol" in r for r in summary)
    head = ("| recognizer |" if named else "|") + " method |" + (" protocol |" if tuned else "") + " labels | word accuracy |"
    rule = "|---" * (1 + named + tuned) + "|---:|---:|"
    if len(seeds) > 1:
        head, rule = head + " ± sd | per seed |", rule + "---:|---|"
    head, rule = head + " 1 - NED | CER | fine-tune s | pretrain s |", rule + "---:|---:|---:|---:|"
    if compare:
        head, rule = head + " vs best from scratch |", rule + "---:|"
    best = strongest_from_scratch(summary)
    lines = [head, rule]
    for r in summary:
        spread = ""
        if len(seeds) > 1:
            per_seed = " / ".join(f"{a:.4f}" for a in r["per_seed"])
            spread = f" {r['word_accuracy_sd']:.4f} | {per_seed} |" if r["method"] != "tesseract" else " | |"
        first = f"| {r.get('recognizer', '')} | " if named else "| "
        method = f"{r['method']} | {r.get('protocol', '')}" if tuned else r["method"]
        line = (f"{first}{method} | {r['labels']} | {r['word_accuracy']:.4f} |{spread} {r['one_minus_ned']:.4f} "
                f"| {r['cer']:.4f} | {r['finetune_seconds']:.0f} | {r['pretrain_seconds']:.0f} |")
        if compare:
            scratch = best.get(r["labels"])
            line += f" {100 * (r['word_accuracy'] - scratch['word_accuracy']):+.1f} |" if scratch else " |"
        lines.append(line)
    return lines


def _self_training_lines(rows: list[dict]) -> list[str]:
    lines = []
    for r in rows:
        for k in r.get("self_training", []):
            accuracy = k["pseudo_label_accuracy"]
            lines.append(f"{_arm(r)} at {r['labels']} labels" + (f", seed {r['seed']}" if r.get("seed") else "")
                         + f", round {k['round']}: {k['pseudo_labels']} pseudo-labels of {k['unlabeled']} images"
                         + (f" ({accuracy:.4f} of them right)" if accuracy is not None else "")
                         + f", validation {k['val_word_accuracy_before']:.4f} -> {k['val_word_accuracy']:.4f}")
    return ["", "Self-training (pseudo-labels whose confidence reaches the threshold; they are scored against the "
            "unlabeled split's labels, on which nothing trains):", "", *(f"- {line}" for line in lines)] if lines else []


def markdown_table(preset: dict, rows: list[dict], notes: list[str] = (), curves: dict | None = None) -> str:
    summary = summarise(rows)
    seeds = list(dict.fromkeys(r.get("seed") for r in rows if r["method"] != "tesseract"))
    recognizers = list(dict.fromkeys(r.get("recognizer", "") for r in rows if r["method"] != "tesseract"))
    compare = len(recognizers) > 1 or any(r["method"].endswith(SELF_TRAIN) for r in rows)
    lines = [f"# Study `{preset['name']}`", ""]
    if len(seeds) > 1:
        lines += [f"Means over seeds {', '.join(map(str, seeds))}, each its own labeled subset, initialisation, "
                  "shuffle and views; fine-tune s per cell.", ""]
    lines += _table(summary, seeds, compare)
    if compare:
        best = strongest_from_scratch(summary)
        lines += ["", "vs best from scratch: points of word accuracy against the supervised arm best on validation, "
                  "of any recognizer: " + ", ".join(f"{n} labels: {_arm(r)} ({r['word_accuracy']:.4f})"
                                                    for n, r in best.items())]
    for recognizer in recognizers:
        ratios = word_error_ratios(rows, recognizer)
        if ratios:
            lines += ["", "Word error of the SSL method best on validation / supervised word error"
                      + (f" ({recognizer})" if recognizer else "") + ": " + ", ".join(
                          f"{n} labels: {mean:.2f}x" + (f" (per seed {' / '.join(f'{v:.2f}x' for v in per)})"
                                                        if len(seeds) > 1 else "") for n, (mean, per) in ratios.items())]
    for recognizer in recognizers:
        chosen = [r for r in rows if r.get("lrs_tried") and r.get("recognizer", "") == recognizer]
        if chosen:
            tried = ", ".join(f"{lr:g}" for lr in chosen[0]["lrs_tried"])
            own = {**preset.get("supervised", {}),
                   **preset.get("recognizers", {}).get(recognizer, {}).get("supervised", {})}
            own = ", ".join(f"{k} {v}" for k, v in own.items() if k != "lrs")
            lines += ["", "Supervised learning rate" + (f" ({recognizer})" if recognizer else "")
                      + f", the best on validation of {tried}: " + _by_labels(chosen, lambda r: f"{r['lr']:g}")
                      + (f"; its own {own}" if own else "")]
    lines += _self_training_lines(rows)
    lines += _pretraining_lines(curves or {})
    blank = []
    for r in summary:
        zero = [str(seed) for seed, a in zip(r["seeds"], r["per_seed"]) if a == 0]
        if zero and r["method"] != "tesseract":
            which = f" (seed{'s' * (len(zero) > 1)} {', '.join(zero)})" if len(seeds) > 1 else ""
            blank.append(f"{_arm(r)} at {r['labels']} labels{which}")
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


def write_report(out: Path, preset: dict, rows: list[dict], notes: list[str] = (), curves: dict | None = None) -> str:
    table = markdown_table(preset, rows, notes, curves)
    with replaced_atomically(out / "results.md") as tmp:
        tmp.write_text(table)
    summary = [r for r in summarise(rows) if r["method"] != "tesseract"]
    budgets = sorted({r["labels"] for r in summary})
    fig, ax = plt.subplots(figsize=(7, 4) if len(budgets) > 1 else (7, 0.6 + 0.35 * len(summary)))
    if len(budgets) > 1:
        for arm in dict.fromkeys(_arm(r) for r in summary):
            points = sorted((r["labels"], r["word_accuracy"], r["word_accuracy_sd"]) for r in summary if _arm(r) == arm)
            labels, accuracy, sd = zip(*points)
            ax.errorbar(labels, accuracy, yerr=sd if any(sd) else None, marker="o", capsize=3, label=arm)
        ax.set_xscale("log")
        ax.set_xlabel("labeled images")
        ax.set_ylim(0, 1)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    else:  # one budget: a bar per arm
        names = [_arm(r) for r in summary]
        ax.barh(names, [r["word_accuracy"] for r in summary], xerr=[r["word_accuracy_sd"] for r in summary] or None,
                color=["grey" if r["method"] == "supervised" else "tab:blue" for r in summary])
        for i, r in enumerate(summary):
            ax.text(r["word_accuracy"] + 0.01, i, f"{r['word_accuracy']:.3f}", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.08)
        ax.set_xlabel(f"word accuracy (test), {budgets[0]} labels" if budgets else "word accuracy (test)")
    for r in rows:
        if r["method"] == "tesseract":
            line = ax.axhline if len(budgets) > 1 else ax.axvline
            line(r["word_accuracy"], linestyle=":", color="grey", label="tesseract")
    if len(budgets) > 1:
        spread = any(r["word_accuracy_sd"] for r in summary)
        ax.set_ylabel("word accuracy (test)" + (", mean ± sd over seeds" if spread else ""))
    ax.set_title(preset["name"])
    fig.tight_layout()
    with replaced_atomically(out / "accuracy.png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return table
