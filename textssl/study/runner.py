"""Label-efficiency study: pretrain each SSL method once, fine-tune it and a supervised baseline at
every label budget on the same labeled subset (for each recognizer, and with self-training where the
preset asks), evaluate all on one test set.

Every finished piece (dataset, pretraining run, fine-tuning cell) is kept under the study folder
with the settings and inputs it was made from, and reused while they match: an interrupted study
resumes where it stopped, and a changed preset recomputes what it changed and what depends on it.
Runs and scores also record the textssl code that made them: other code trains and scores again.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

from textssl import __version__
from textssl.data.captcha_gen import generate_captchas
from textssl.errors import UserError
from textssl.eval.evaluate import evaluate_run
from textssl.study.preset import (
    SELF_TRAIN,
    SPLITS,
    STYLE_KEYS,
    UNTRAINED,
    finetune_config,
    load_preset,
    pretrain_config,
    protocols,
    recognizers,
    self_train_config,
    supervised_config,
    supervised_lrs,
)
from textssl.study.report import pretraining_curve, summarise, tesseract_row, write_report
from textssl.train.finetune import FinetuneConfig, finetune, settle_model
from textssl.train.pretrain import LAST_CHECKPOINT, PretrainConfig, pretrain, save_untrained
from textssl.run_dir import CONFIG, METRICS, write_json

log = logging.getLogger("textssl")
SPEC = "spec.json"
INPUTS = "inputs.json"  # what a pretraining run or fine-tuning cell was trained from, beyond its options


def _as_json(value):
    """``value`` as it reads back from JSON (tuples become lists), to compare with saved settings."""
    return json.loads(json.dumps(value))


def _same_spec(folder: Path, spec: dict) -> bool:
    try:
        return json.loads((folder / SPEC).read_text()) == _as_json(spec)
    except (OSError, ValueError):
        return False


def make_data(data: dict, root: Path, with_unlabeled: bool, progress: bool) -> dict[str, str]:
    """Generate (or reuse) the study's captcha LMDBs; each split has its own seed. The unlabeled split
    holds its labels too: nothing trains on them, they only score the pseudo-labels of self-training."""
    style = {k: data[k] for k in STYLE_KEYS if k in data}
    seed = data.get("seed", 0)
    paths = {}
    for offset, (split, labeled) in enumerate(SPLITS):
        if split == "unlabeled" and not with_unlabeled:
            continue
        folder = root / split
        spec = {"count": data[split], "labeled": labeled, "seed": seed * 10 + offset, **style}
        if not _same_spec(folder, spec):
            shutil.rmtree(folder, ignore_errors=True)
            log.info("generating %d %s captchas", data[split], split)
            generate_captchas(str(folder / "lmdb"), data[split], labeled=labeled, seed=spec["seed"],
                              progress=progress, **style)
            write_json(folder / SPEC, spec)
        paths[split] = str(folder / "lmdb")
    return paths


def _saved_options(run: Path, section: str) -> dict | None:
    try:
        return json.loads((run / CONFIG).read_text())[section]
    except (OSError, ValueError, KeyError):
        return None


@functools.cache
def code_version() -> str:
    """textssl's version and a hash of its Python source, so that a fix to the code is not hidden
    behind results kept from before it."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def _inputs(data: list[str], init: str | None = None) -> dict:
    """The identity of what a run is computed from: the code, each data split's spec and, for a
    fine-tuning cell, the metrics of the run it starts from (a new run has new ones)."""
    inputs = {path: json.loads((Path(path).parent / SPEC).read_text()) for path in data}
    return {"code": code_version(), **inputs,
            "init": json.loads((Path(init) / METRICS).read_text()) if init else None}


def _same_inputs(run: Path, settings: dict, section: str, inputs: dict) -> bool:
    try:
        saved = json.loads((run / INPUTS).read_text())
    except (OSError, ValueError):
        return False
    return _saved_options(run, section) == _as_json(settings) and saved == _as_json(inputs)


def _pretrained(cfg: PretrainConfig, untrained: bool = False) -> tuple[str, float]:
    """Pretrain (or reuse, or resume) one method's run; returns (run, pretraining seconds). ``untrained``:
    the encoder as initialised."""
    run = Path(cfg.out)
    inputs = {**_inputs(cfg.data), "untrained": untrained}  # the untrained encoder's BatchNorm sees the data
    if not _same_inputs(run, cfg.saved(), "pretrain", inputs):
        shutil.rmtree(run, ignore_errors=True)
    elif not (run / METRICS).is_file():  # interrupted: continue from its last checkpoint, if it wrote one
        cfg.resume = (run / LAST_CHECKPOINT).is_file()
        if not cfg.resume:
            shutil.rmtree(run)
    if not (run / METRICS).is_file():
        run.mkdir(parents=True, exist_ok=True)
        write_json(run / INPUTS, inputs)
        save_untrained(cfg) if untrained else pretrain(cfg)
    return str(run), json.loads((run / METRICS).read_text())["seconds"]


def _finetuned(cfg: FinetuneConfig, test: str) -> dict:
    """Fine-tune one cell unless it finished before from the same settings and inputs, then evaluate
    it on the test set unless it was evaluated on this one before."""
    cfg = settle_model(cfg)  # as finetune saves it, to compare with a finished cell's settings
    out = Path(cfg.out)
    result = out / "test.json"
    inputs = _inputs([*cfg.train, cfg.val, *(cfg.unlabeled or [])], cfg.init)
    if not ((out / METRICS).is_file() and _same_inputs(out, cfg.saved(), "finetune", inputs)):
        shutil.rmtree(out, ignore_errors=True)
        finetune(cfg)
        write_json(out / INPUTS, inputs)
    tested_on = _as_json(_inputs([test]))
    try:
        saved = json.loads(result.read_text())
        if saved.pop("test_set") == tested_on:
            return saved
    except (OSError, ValueError, KeyError):
        pass
    train = json.loads((out / METRICS).read_text())
    row = {**evaluate_run(out, test), "val_word_accuracy": train["val_word_accuracy"],
           "finetune_seconds": train["train_seconds"], "lr": cfg.lr, "run": str(out)}
    if "self_training" in train:
        row["self_training"] = train["self_training"]
    write_json(result, {**row, "test_set": tested_on})
    return row


def _cells(preset: dict, recognizer: str, out: Path, data: dict, encoders: dict, labels: int, seed: int | None,
           progress: bool, where: str) -> list[dict]:
    """The fine-tuning cells of one recognizer, label budget and seed: each SSL method's, then the
    supervised baseline at the learning rate best on validation, then each one's +self-train cell."""
    plain = finetune_config(preset, recognizer, {}, "-", labels, None, where).seed  # a study without seeds
    seed = plain if seed is None else seed
    fixed = {"progress": progress, "seed": seed}
    prefix, suffix = f"{recognizer}-" if recognizer else "", f"-seed{seed}" if seed != plain else ""
    same = {"labels": labels, "seed": seed, **({"recognizer": recognizer} if recognizer else {})}
    rows, bases = [], []
    arms = [(method, protocol) for method in encoders if method != UNTRAINED for protocol in protocols(preset)]
    arms += [(UNTRAINED, protocol) for protocol in preset.get("untrained", [])]
    for method, protocol in arms:
        init, pretrain_seconds = encoders[method]
        tuned = {"protocol": protocol} if protocol else {}
        cell = f"{prefix}{method.replace(':', '-')}{'-' + protocol if protocol else ''}-{labels}{suffix}"
        cfg = finetune_config(preset, recognizer, {**fixed, **tuned}, str(out / "finetune" / cell), labels, init, where,
                              data)
        rows.append({"method": method, **same, **tuned, "pretrain_seconds": pretrain_seconds,
                     **_finetuned(cfg, data["test"])})
        bases.append((method, cfg, pretrain_seconds))
    candidates = []
    for lr in supervised_lrs(preset, recognizer, where):
        cell = out / "finetune" / f"{prefix}supervised-{labels}{suffix}-lr{lr:g}"
        cfg = supervised_config(preset, recognizer, fixed, str(cell), labels, lr, where, data)
        candidates.append((_finetuned(cfg, data["test"]), cfg))
    best, best_cfg = max(candidates, key=lambda c: c[0]["val_word_accuracy"])  # chosen on validation, not test
    rows.append({"method": "supervised", **same, "pretrain_seconds": 0.0, **best,
                 "lrs_tried": [c[0]["lr"] for c in candidates]})
    bases.append(("supervised", best_cfg, 0.0))
    if "self_train" in preset:
        for method, base, pretrain_seconds in bases:
            cell = out / "finetune" / f"{prefix}{method}{SELF_TRAIN}-{labels}{suffix}"
            cfg = self_train_config(preset, settle_model(base), base.out, data["unlabeled"], str(cell), where)
            row = _finetuned(cfg, data["test"])
            base_seconds = next(r for r in rows if r["method"] == method)["finetune_seconds"]
            rows.append({"method": method + SELF_TRAIN, **same, "pretrain_seconds": pretrain_seconds, **row,
                         "finetune_seconds": base_seconds + row["finetune_seconds"]})
    return rows


def run_study(preset_name: str, out: str | Path, progress: bool = True, seeds: list[int] | None = None) -> list[dict]:
    preset = load_preset(preset_name, seeds)
    where = preset_name
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "preset.json").is_file():
        raise UserError(f"--out {out}: holds files but no study (preset.json); choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "preset.json", preset)
    start = time.time()
    data = make_data(preset["data"], out / "data", bool(preset["methods"]) or "self_train" in preset, progress)
    encoders = {}
    for method in [*preset["methods"], *([UNTRAINED] if preset.get("untrained") else [])]:
        folder = out / "pretrain" / method.replace(":", "-")
        cfg = pretrain_config(preset, method, data.get("unlabeled", "-"), str(folder), where)
        cfg.progress = progress
        encoders[method] = _pretrained(cfg, untrained=method == UNTRAINED)
    rows = []
    for labels in preset["labels"]:
        for seed in preset.get("seeds", [None]):  # each seed: its own labeled subset, initialisation and views
            for recognizer in recognizers(preset):
                rows += _cells(preset, recognizer, out, data, encoders, labels, seed, progress, where)
    tesseract, note = tesseract_row(data["test"], preset["data"].get("charset", "captcha"))
    rows += [tesseract] if tesseract else []
    curves = {m: c for m, (run, _) in encoders.items() if (c := pretraining_curve(run))}
    write_json(out / "results.json", {"preset": preset["name"], "code": code_version(), "rows": rows,
                                      "summary": summarise(rows), "pretraining": curves, "seconds": time.time() - start})
    write_report(out, preset, rows, [note], curves)
    return rows
