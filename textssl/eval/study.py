"""Label-efficiency study: pretrain each SSL method once, fine-tune it and a supervised baseline
at every label budget on the same labeled subset, evaluate all on one test set.

Every finished piece (dataset, pretraining run, fine-tuning cell) is kept under the study folder
and reused, so an interrupted study resumes where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path

import yaml

from textssl.data.captcha_gen import generate_captchas
from textssl.data.lmdb_io import LmdbReader
from textssl.errors import UserError
from textssl.eval.evaluate import evaluate_run
from textssl.eval.report import tesseract_row, write_report
from textssl.train.finetune import FinetuneConfig, finetune
from textssl.train.pretrain import PretrainConfig, pretrain
from textssl.train.run_dir import ENCODER_WEIGHTS, METRICS, write_json

log = logging.getLogger("textssl")
PRESET_DIR = Path(__file__).resolve().parents[2] / "configs"
STUDY_KEYS = {"name", "data", "methods", "labels", "pretrain", "method_options", "finetune", "supervised",
              "reference"}
DATA_KEYS = {"charset", "min_len", "max_len", "width", "height", "unlabeled", "labeled", "val", "test", "seed"}


def load_preset(name: str) -> dict:
    """A preset by name (configs/NAME.yaml) or a path to a user's YAML file."""
    path = Path(name)
    if not path.is_file():
        path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
        raise UserError(f"unknown --preset '{name}': use one of {known} or a YAML file")
    try:
        preset = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    for key in preset:
        if key not in STUDY_KEYS:
            raise UserError(f"{path}: unknown key '{key}'")
    for key in preset.get("data", {}):
        if key not in DATA_KEYS:
            raise UserError(f"{path}: unknown key 'data.{key}'")
    for section, cls in (("pretrain", PretrainConfig), ("finetune", FinetuneConfig)):
        names = {f.name for f in dataclasses.fields(cls)}
        for key in preset.get(section, {}):
            if key not in names:
                raise UserError(f"{path}: unknown key '{section}.{key}'")
    preset.setdefault("name", path.stem)
    return preset


def _lmdb_ready(path: Path, count: int) -> bool:
    try:
        return path.is_dir() and len(LmdbReader(str(path))) == count
    except UserError:
        return False


def make_data(data: dict, root: Path) -> dict[str, str]:
    """Generate (or reuse) the study's captcha LMDBs; each split has its own seed."""
    style = {k: data[k] for k in ("charset", "min_len", "max_len", "width", "height") if k in data}
    seed = data.get("seed", 0)
    paths = {}
    for offset, (split, labeled) in enumerate((("unlabeled", False), ("labeled", True), ("val", True),
                                               ("test", True))):
        count = data[split]
        path = paths[split] = root / split
        if not _lmdb_ready(path, count):
            shutil.rmtree(path, ignore_errors=True)
            log.info("generating %d %s captchas", count, split)
            generate_captchas(str(path), count, labeled=labeled, seed=seed * 10 + offset, **style)
    return {k: str(v) for k, v in paths.items()}


def _finetune_cell(out: Path, data: dict, base: dict, labels: int, init: str | None, progress: bool) -> dict:
    """Fine-tune one cell and evaluate it on the test set, unless it finished before."""
    result = out / "test.json"
    if result.is_file():
        return json.loads(result.read_text())
    shutil.rmtree(out, ignore_errors=True)
    cfg = FinetuneConfig(**{**base, "train": [data["labeled"]], "val": data["val"], "out": str(out),
                            "num_labels": labels, "init": init, "progress": progress})
    if init is None:
        cfg.protocol = "full"
    train = finetune(cfg)
    metrics = evaluate_run(out, data["test"])
    row = {**metrics, "val_word_accuracy": train["val_word_accuracy"], "finetune_seconds": train["train_seconds"],
           "lr": cfg.lr}
    write_json(result, row)
    return row


def run_study(preset_name: str, out: str | Path, progress: bool = True) -> list[dict]:
    preset = load_preset(preset_name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "preset.json", preset)
    start = time.time()
    data = make_data(preset["data"], out / "data")
    image = {"height": preset["data"].get("height", 32), "width": preset["data"].get("width", 128)}
    charset = preset["data"].get("charset", "captcha")
    rows = []

    encoders = {}
    for method in preset.get("methods", []):
        run = out / "pretrain" / method
        options = {**preset.get("pretrain", {}), **preset.get("method_options", {}).get(method, {}), **image}
        if not (run / ENCODER_WEIGHTS).is_file():
            resume = (run / "checkpoints" / "last.ckpt").is_file()
            pretrain(PretrainConfig(**{**options, "data": [data["unlabeled"]], "out": str(run), "method": method,
                                       "resume": resume, "progress": progress}))
        encoders[method] = (str(run), json.loads((run / METRICS).read_text())["seconds"])

    base = {**preset.get("finetune", {}), **image, "charset": charset}
    supervised = preset.get("supervised", {})
    for labels in preset["labels"]:
        for method, (init, pretrain_seconds) in encoders.items():
            row = _finetune_cell(out / "finetune" / f"{method}-{labels}", data, base, labels, init, progress)
            rows.append({"method": method, "labels": labels, "pretrain_seconds": pretrain_seconds, **row})
        candidates = []
        for lr in supervised.get("lrs", [base.get("lr", 1e-3)]):
            cell = {**base, "lr": lr, "protocol": "full"}
            candidates.append(_finetune_cell(out / "finetune" / f"supervised-{labels}-lr{lr:g}", data, cell,
                                             labels, None, progress))
        best = max(candidates, key=lambda r: r["val_word_accuracy"])  # chosen on validation, not test
        rows.append({"method": "supervised", "labels": labels, "pretrain_seconds": 0.0, **best,
                     "lrs_tried": [c["lr"] for c in candidates]})
    tesseract = tesseract_row(data["test"], charset)
    if tesseract:
        rows.append(tesseract)
    write_json(out / "results.json", {"preset": preset["name"], "rows": rows, "seconds": time.time() - start})
    write_report(out, preset, rows)
    return rows
