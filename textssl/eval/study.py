"""Label-efficiency study: pretrain each SSL method once, fine-tune it and a supervised baseline
at every label budget on the same labeled subset, evaluate all on one test set.

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
from textssl.config import config_from_dict, read_yaml
from textssl.data.captcha_gen import generate_captchas, parse_size
from textssl.errors import UserError
from textssl.eval.evaluate import evaluate_run
from textssl.eval.report import summarise, tesseract_row, write_report
from textssl.methods import METHODS
from textssl.train.finetune import FinetuneConfig, finetune, settle_model
from textssl.train.pretrain import LAST_CHECKPOINT, PretrainConfig, pretrain
from textssl.train.run_dir import CONFIG, METRICS, write_json

log = logging.getLogger("textssl")
PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"
STUDY_KEYS = {"name", "data", "methods", "labels", "seeds", "pretrain", "method_options", "finetune", "supervised",
              "reference"}
STYLE_KEYS = ("charset", "min_len", "max_len", "width", "height", "render_size")
SPLITS = (("unlabeled", False), ("labeled", True), ("val", True), ("test", True))
SPEC = "spec.json"
SET_BY_STUDY = {"pretrain": ("data", "out", "method", "height", "width", "resume"),  # from data and labels
                "finetune": ("train", "val", "out", "init", "num_labels", "charset", "height", "width")}
SUPERVISED_OWN = ("lrs", "warmup", "weight_decay", "optimizer")  # data, views, budget and model are the SSL arms'
INPUTS = "inputs.json"  # what a pretraining run or fine-tuning cell was trained from, beyond its options


def load_preset(name: str, seeds: list[int] | None = None) -> dict:
    """A preset by name (textssl/presets/NAME.yaml) or a user's YAML file, checked before any work;
    ``seeds`` (the command line's) replaces the preset's."""
    path = Path(name)
    if not path.is_file():
        path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
        raise UserError(f"unknown --preset '{name}': use one of {known} or a YAML file")
    preset = read_yaml(path, "--preset")
    preset.setdefault("name", path.stem)
    preset.setdefault("methods", [])
    where = str(path)
    if seeds is not None:
        preset["seeds"] = list(seeds)
    for key in preset:
        if key not in STUDY_KEYS:
            raise UserError(f"{where}: unknown key '{key}'")
    data = preset.get("data")
    if not isinstance(data, dict):
        raise UserError(f"{where}: 'data' must be a mapping with the split sizes")
    _check_sections(preset, where)
    for key, value in data.items():
        if key not in (*STYLE_KEYS, *(s for s, _ in SPLITS), "seed"):
            raise UserError(f"{where}: unknown key 'data.{key}'")
    if "render_size" in data:  # "160x60", as on the command line; the generator takes [160, 60]
        size = parse_size(data["render_size"]) if isinstance(data["render_size"], str) else None
        if size is None or min(size) < 16:
            raise UserError(f"{where}: 'data.render_size' must be WIDTHxHEIGHT of at least 16 pixels each, "
                            f"e.g. 160x60, got {data['render_size']!r}")
        data["render_size"] = list(size)
    if not isinstance(data.get("seed", 0), int) or isinstance(data.get("seed"), bool):
        raise UserError(f"{where}: 'data.seed' must be a whole number")
    for split, _ in SPLITS:
        needed = split != "unlabeled" or preset["methods"]
        if needed and not (isinstance(data.get(split), int) and data[split] > 0):
            raise UserError(f"{where}: 'data.{split}' must be a positive number of images")
    for method in preset["methods"]:
        if method not in METHODS:
            raise UserError(f"{where}: unknown method '{method}' in 'methods': use {', '.join(METHODS)}")
    labels = preset.get("labels")
    if not (isinstance(labels, list) and labels and all(isinstance(n, int) and 0 < n <= data["labeled"]
                                                        for n in labels)):
        raise UserError(f"{where}: 'labels' must list label budgets between 1 and data.labeled ({data['labeled']})")
    lrs = preset.get("supervised", {}).get("lrs", [])
    if not (isinstance(lrs, list) and all(isinstance(x, (int, float)) for x in lrs)):
        raise UserError(f"{where}: 'supervised.lrs' must be a list of learning rates")
    for entry in preset.get("reference", []):
        if not (isinstance(entry, dict) and set(entry) == {"method", "labels", "word_accuracy", "source"}
                and all(isinstance(entry[k], str) for k in ("method", "source"))):
            raise UserError(f"{where}: each 'reference' entry needs exactly method, labels, word_accuracy and "
                            f"source (quote text with commas), got {entry}")
    _check_seeds(preset, where, from_command_line=seeds is not None)
    tuned = [_finetune_config(preset, {"seed": s} if s is not None else {}, "-", n, None, where)
             for n in labels for s in preset.get("seeds", [None])]  # a bad key or value fails now
    pretrained = {method: _pretrain_config(preset, method, "-", "-", where) for method in preset["methods"]}
    sections = [("finetune", tuned[0]), *((f"pretrain / method_options.{m}", c) for m, c in pretrained.items())]
    for section, cfg in sections:
        if cfg.devices != "1":  # Lightning starts each further process from the command line again
            raise UserError(f"{where}: {section} 'devices' is {cfg.devices!r}: a study trains on one device, since "
                            f"each process of several would run the whole study; use textssl pretrain / finetune")
    for lr in _supervised_lrs(preset, where):
        _supervised_config(preset, {}, "-", labels[0], lr, where)
    scratch = settle_model(tuned[0])  # the supervised arm's model, which every SSL arm must share
    for method, pre in pretrained.items():
        for key in ("model", "channels"):
            if getattr(pre, key) != getattr(scratch, key):
                raise UserError(f"{where}: pretrain / method_options.{method} '{key}' is {getattr(pre, key)!r} but "
                                f"finetune '{key}' is {getattr(scratch, key)!r}: give both the same")
    return preset


def _check_seeds(preset: dict, where: str, from_command_line: bool) -> None:
    if "seeds" not in preset:
        return
    seeds, option = preset["seeds"], "--seeds" if from_command_line else "'seeds'"
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            and len(set(seeds)) == len(seeds)):
        raise UserError(f"{'' if from_command_line else where + ': '}{option} must list distinct whole numbers, "
                        f"one fine-tuning cell per seed, got {seeds!r}")
    if "seed" in (preset.get("finetune") or {}):
        raise UserError(f"{where}: 'finetune.seed' and {option} both set the fine-tuning seed: keep one")


def _check_sections(preset: dict, where: str) -> None:
    """The sections' types, and no option in them that the study sets itself."""
    if not (isinstance(preset["methods"], list) and all(isinstance(m, str) for m in preset["methods"])):
        raise UserError(f"{where}: 'methods' must be a list of method names")
    for key in ("supervised", "method_options"):
        if not isinstance(preset.get(key, {}), dict):
            raise UserError(f"{where}: '{key}' must be a mapping")
    sections = [(kind, preset.get(kind, {}), kind) for kind in SET_BY_STUDY]
    sections += [(f"method_options.{m}", o, "pretrain") for m, o in preset.get("method_options", {}).items()]
    for name, options, kind in sections:
        if not isinstance(options, dict):
            raise UserError(f"{where}: '{name}' must be a mapping of {kind} options")
        fixed = sorted(set(options) & set(SET_BY_STUDY[kind]))
        if fixed:
            raise UserError(f"{where}: '{name}.{fixed[0]}' is set by the study (from 'data', 'labels' and --out)")
    shared = sorted(set(preset.get("supervised", {})) - set(SUPERVISED_OWN))
    if shared:
        raise UserError(f"{where}: 'supervised.{shared[0]}': the supervised arm shares it with the SSL arms (set it in "
                        f"'finetune'); its own options are {', '.join(SUPERVISED_OWN)}")


def _pretrain_config(preset: dict, method: str, data: str, out: str, where: str) -> PretrainConfig:
    options = {**preset.get("pretrain", {}), **preset.get("method_options", {}).get(method, {})}
    fixed = {"data": [data], "out": out, "method": method, **_image(preset)}
    return config_from_dict(PretrainConfig, {**options, **fixed}, f"{where}: pretrain / method_options.{method}")


def _finetune_config(preset: dict, overrides: dict, out: str, labels: int, init: str | None,
                     where: str, data: dict | None = None, section: str = "finetune") -> FinetuneConfig:
    data = data or {"labeled": "-", "val": "-"}
    fixed = {"train": [data["labeled"]], "val": data["val"], "out": out, "num_labels": labels, "init": init,
             "charset": preset["data"].get("charset", "captcha"), **_image(preset), **overrides}
    return config_from_dict(FinetuneConfig, {**preset.get("finetune", {}), **fixed}, f"{where}: {section}")


def _supervised_config(preset: dict, overrides: dict, out: str, labels: int, lr: float, where: str,
                       data: dict | None = None) -> FinetuneConfig:
    """The supervised arm's cell: 'finetune' with the options of 'supervised' (its own schedule) on top."""
    options = {k: v for k, v in preset.get("supervised", {}).items() if k != "lrs"}
    return _finetune_config(preset, {**options, **overrides, "lr": lr, "protocol": "full"}, out, labels, None,
                            where, data, section="finetune / supervised")


def _supervised_lrs(preset: dict, where: str) -> list[float]:
    """The supervised arm's learning rates: 'supervised.lrs', else the one of 'finetune'."""
    return preset.get("supervised", {}).get("lrs") or [_finetune_config(preset, {}, "-", 1, None, where).lr]


def _image(preset: dict) -> dict:
    return {"height": preset["data"].get("height", 32), "width": preset["data"].get("width", 128)}


def _as_json(value):
    """``value`` as it reads back from JSON (tuples become lists), to compare with saved settings."""
    return json.loads(json.dumps(value))


def _same_spec(folder: Path, spec: dict) -> bool:
    try:
        return json.loads((folder / SPEC).read_text()) == _as_json(spec)
    except (OSError, ValueError):
        return False


def make_data(data: dict, root: Path, with_unlabeled: bool, progress: bool) -> dict[str, str]:
    """Generate (or reuse) the study's captcha LMDBs; each split has its own seed."""
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
    fine-tuning cell, the metrics of the pretraining run it starts from (a new run has new ones)."""
    inputs = {path: json.loads((Path(path).parent / SPEC).read_text()) for path in data}
    return {"code": code_version(), **inputs,
            "init": json.loads((Path(init) / METRICS).read_text()) if init else None}


def _same_inputs(run: Path, settings: dict, section: str, inputs: dict) -> bool:
    try:
        saved = json.loads((run / INPUTS).read_text())
    except (OSError, ValueError):
        return False
    return _saved_options(run, section) == _as_json(settings) and saved == _as_json(inputs)


def _pretrained(cfg: PretrainConfig) -> tuple[str, float]:
    """Pretrain (or reuse, or resume) one method's run; returns (run, pretraining seconds)."""
    run = Path(cfg.out)
    inputs = _inputs(cfg.data)
    if not _same_inputs(run, cfg.saved(), "pretrain", inputs):
        shutil.rmtree(run, ignore_errors=True)
    elif not (run / METRICS).is_file():  # interrupted: continue from its last checkpoint, if it wrote one
        cfg.resume = (run / LAST_CHECKPOINT).is_file()
        if not cfg.resume:
            shutil.rmtree(run)
    if not (run / METRICS).is_file():
        run.mkdir(parents=True, exist_ok=True)
        write_json(run / INPUTS, inputs)
        pretrain(cfg)
    return str(run), json.loads((run / METRICS).read_text())["seconds"]


def _finetuned(cfg: FinetuneConfig, test: str) -> dict:
    """Fine-tune one cell unless it finished before from the same settings and inputs, then evaluate
    it on the test set unless it was evaluated on this one before."""
    cfg = settle_model(cfg)  # as finetune saves it, to compare with a finished cell's settings
    out = Path(cfg.out)
    result = out / "test.json"
    inputs = _inputs([*cfg.train, cfg.val], cfg.init)
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
           "finetune_seconds": train["train_seconds"], "lr": cfg.lr}
    write_json(result, {**row, "test_set": tested_on})
    return row


def _cells(preset: dict, out: Path, data: dict, encoders: dict, labels: int, seed: int | None,
           supervised_lrs: list[float], progress: bool, where: str) -> list[dict]:
    """The fine-tuning cells of one label budget and seed: each SSL method's, then the supervised
    baseline at the learning rate best on validation."""
    plain = _finetune_config(preset, {}, "-", labels, None, where).seed  # its cells are those of a study without seeds
    seed = plain if seed is None else seed
    fixed = {"progress": progress, "seed": seed}
    suffix = f"-seed{seed}" if seed != plain else ""
    rows = []
    for method, (init, pretrain_seconds) in encoders.items():
        cfg = _finetune_config(preset, fixed, str(out / "finetune" / f"{method}-{labels}{suffix}"), labels, init,
                               where, data)
        rows.append({"method": method, "labels": labels, "seed": seed, "pretrain_seconds": pretrain_seconds,
                     **_finetuned(cfg, data["test"])})
    candidates = []
    for lr in supervised_lrs:
        cell = out / "finetune" / f"supervised-{labels}{suffix}-lr{lr:g}"
        cfg = _supervised_config(preset, fixed, str(cell), labels, lr, where, data)
        candidates.append(_finetuned(cfg, data["test"]))
    best = max(candidates, key=lambda r: r["val_word_accuracy"])  # chosen on validation, not test
    rows.append({"method": "supervised", "labels": labels, "seed": seed, "pretrain_seconds": 0.0, **best,
                 "lrs_tried": [c["lr"] for c in candidates]})
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
    data = make_data(preset["data"], out / "data", bool(preset["methods"]), progress)
    rows = []

    encoders = {}
    for method in preset["methods"]:
        cfg = _pretrain_config(preset, method, data.get("unlabeled", "-"), str(out / "pretrain" / method), where)
        cfg.progress = progress
        encoders[method] = _pretrained(cfg)

    supervised_lrs = _supervised_lrs(preset, where)
    for labels in preset["labels"]:
        for seed in preset.get("seeds", [None]):  # each seed: its own labeled subset, initialisation and views
            rows += _cells(preset, out, data, encoders, labels, seed, supervised_lrs, progress, where)
    charset = preset["data"].get("charset", "captcha")
    tesseract, note = tesseract_row(data["test"], charset)
    rows += [tesseract] if tesseract else []
    write_json(out / "results.json", {"preset": preset["name"], "code": code_version(), "rows": rows,
                                      "summary": summarise(rows), "seconds": time.time() - start})
    write_report(out, preset, rows, [note])
    return rows

