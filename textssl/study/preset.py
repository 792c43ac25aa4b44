"""Study presets: loading and checking one (before any work), and the pretraining and fine-tuning
configs of its cells.

A preset names its data (captchas: style and split sizes), the SSL ``methods`` and their
``pretrain`` / ``method_options``, the label budgets (``labels``) and ``seeds``, the ``finetune``
options of every cell and the ``supervised`` arm's own ones (``lrs``, the best on validation kept,
``warmup``, ``weight_decay``, ``optimizer``). ``recognizers`` (name: {finetune: ..., supervised: ...})
runs every arm once per recognizer; ``self_train`` (fine-tuning options) adds a ``+self-train`` arm
beside each method and the supervised arm, started from that arm's cell.

A ``methods`` entry ``NAME:VARIANT`` is method NAME pretrained a second way: ``method_options.NAME``
then ``method_options['NAME:VARIANT']`` (``seqclr:triplet: {loss: triplet}``). ``protocols`` fine-tunes
every pretrained encoder under each protocol listed (else the one of ``finetune``), and ``untrained``
lists the protocols under which the encoder as initialised, pretrained on nothing, is fine-tuned too:
under ``frozen`` it says what the decoder reads without a learned representation.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from textssl.config import config_from_dict, read_yaml
from textssl.data.captcha_gen import parse_size
from textssl.errors import UserError
from textssl.methods import METHODS
from textssl.train.options import FinetuneConfig, PretrainConfig, TrainOptions, with_method_options

PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"
STUDY_KEYS = {"name", "data", "methods", "labels", "seeds", "pretrain", "method_options", "finetune", "supervised",
              "recognizers", "self_train", "reference", "protocols", "untrained"}
STYLE_KEYS = ("charset", "min_len", "max_len", "width", "height", "render_size")
SPLITS = (("unlabeled", False), ("labeled", True), ("val", True), ("test", True))
SET_BY_STUDY = {"pretrain": ("data", "out", "method", "height", "width", "resume"),  # from data and labels
                "finetune": ("train", "val", "out", "init", "num_labels", "charset", "height", "width", "unlabeled")}
SET_BY_STUDY["self_train"] = (*SET_BY_STUDY["finetune"], "protocol")
SUPERVISED_OWN = ("lrs", "warmup", "weight_decay", "optimizer")  # data, views, budget and model are the SSL arms'
SELF_TRAIN = "+self-train"
UNTRAINED = "untrained"
TUNED_PROTOCOLS = ("full", "frozen", "two-stage")  # the protocols that start from a pretraining run
_ENCODER_KEYS = ("encoder", "encoder_size", "channels", "sequence", "shortcut", "features", "seed")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainOptions)}  # a cell's model where finetune gives none


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
    _check_data(preset, where)
    _check_sections(preset, where)
    for method in preset["methods"]:
        if method_name(method) not in METHODS or method.endswith(":"):
            raise UserError(f"{where}: unknown method '{method}' in 'methods': use {', '.join(METHODS)}, or NAME:VARIANT "
                            f"with its options in method_options")
    if len(set(preset["methods"])) != len(preset["methods"]):
        raise UserError(f"{where}: 'methods' lists a method twice: give the second one a variant, NAME:VARIANT")
    _check_protocols(preset, where)
    labels, data = preset.get("labels"), preset["data"]
    if not (isinstance(labels, list) and labels and all(isinstance(n, int) and 0 < n <= data["labeled"]
                                                        for n in labels)):
        raise UserError(f"{where}: 'labels' must list label budgets between 1 and data.labeled ({data['labeled']})")
    for entry in preset.get("reference", []):
        if not (isinstance(entry, dict) and set(entry) == {"method", "labels", "word_accuracy", "source"}
                and all(isinstance(entry[k], str) for k in ("method", "source"))):
            raise UserError(f"{where}: each 'reference' entry needs exactly method, labels, word_accuracy and "
                            f"source (quote text with commas), got {entry}")
    _check_seeds(preset, where, from_command_line=seeds is not None)
    _check_configs(preset, where)
    return preset


def method_name(entry: str) -> str:
    """The registry name of a 'methods' entry, NAME or NAME:VARIANT."""
    return entry.split(":", 1)[0]


def protocols(preset: dict) -> list[str | None]:
    """The protocols of the pretrained arms: 'protocols', else [None] (the one 'finetune' gives)."""
    return preset.get("protocols") or [None]


def _check_protocols(preset: dict, where: str) -> None:
    for key in ("protocols", "untrained"):
        given = preset.get(key, [])
        if not (isinstance(given, list) and all(p in TUNED_PROTOCOLS for p in given) and len(set(given)) == len(given)):
            raise UserError(f"{where}: '{key}' must list distinct fine-tuning protocols of {', '.join(TUNED_PROTOCOLS)}, "
                            f"got {given!r}")
    if preset.get("protocols") and "protocol" in preset.get("finetune", {}):
        raise UserError(f"{where}: 'finetune.protocol' and 'protocols' both set the pretrained arms' protocol: keep one")
    for key in ("protocols", "untrained"):
        if preset.get(key) and "self_train" in preset:
            raise UserError(f"{where}: 'self_train' starts from one cell per method; it does not go with '{key}'")


def recognizers(preset: dict) -> dict[str, dict]:
    """name -> {finetune: ..., supervised: ...}; one unnamed recognizer where the preset lists none."""
    return preset.get("recognizers") or {"": {}}


def _check_data(preset: dict, where: str) -> None:
    data = preset.get("data")
    if not isinstance(data, dict):
        raise UserError(f"{where}: 'data' must be a mapping with the split sizes")
    for key in data:
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
        needed = split != "unlabeled" or preset["methods"] or "self_train" in preset
        if needed and not (isinstance(data.get(split), int) and data[split] > 0):
            raise UserError(f"{where}: 'data.{split}' must be a positive number of images")


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
    for key in ("supervised", "method_options", "recognizers"):
        if not isinstance(preset.get(key, {}), dict):
            raise UserError(f"{where}: '{key}' must be a mapping")
    sections = [(kind, preset.get(kind, {}), kind) for kind in SET_BY_STUDY]
    sections += [(f"method_options.{m}", o, "pretrain") for m, o in preset.get("method_options", {}).items()]
    supervised = [("supervised", preset.get("supervised", {}))]
    for name, recognizer in preset.get("recognizers", {}).items():
        if not (isinstance(recognizer, dict) and set(recognizer) <= {"finetune", "supervised"}):
            raise UserError(f"{where}: 'recognizers.{name}' must be a mapping with 'finetune' and / or 'supervised'")
        sections.append((f"recognizers.{name}.finetune", recognizer.get("finetune", {}), "finetune"))
        supervised.append((f"recognizers.{name}.supervised", recognizer.get("supervised", {})))
    for name, options, kind in sections:
        if not isinstance(options, dict):
            raise UserError(f"{where}: '{name}' must be a mapping of {'fine-tuning' if kind != 'pretrain' else kind} "
                            f"options")
        fixed = sorted(set(options) & set(SET_BY_STUDY[kind]))
        if fixed:
            raise UserError(f"{where}: '{name}.{fixed[0]}' is set by the study (from 'data', 'labels' and --out)")
    for name, options in supervised:
        if not isinstance(options, dict):
            raise UserError(f"{where}: '{name}' must be a mapping")
        shared = sorted(set(options) - set(SUPERVISED_OWN))
        if shared:
            raise UserError(f"{where}: '{name}.{shared[0]}': the supervised arm shares it with the SSL arms (set it "
                            f"in 'finetune'); its own options are {', '.join(SUPERVISED_OWN)}")
        lrs = options.get("lrs", [])
        if not (isinstance(lrs, list) and all(isinstance(x, (int, float)) for x in lrs)):
            raise UserError(f"{where}: '{name}.lrs' must be a list of learning rates")


def _check_configs(preset: dict, where: str) -> None:
    """Every cell's config builds (a bad key or value fails now), and the arms share what they must."""
    labels = preset["labels"]
    pretrained = {method: pretrain_config(preset, method, "-", "-", where) for method in preset["methods"]}
    for recognizer in recognizers(preset):
        tuned = [finetune_config(preset, recognizer, {"seed": s} if s is not None else {}, "-", n, None, where)
                 for n in labels for s in preset.get("seeds", [None])]
        tuned += [finetune_config(preset, recognizer, {"protocol": p}, "-", labels[0], None, where)
                  for p in {*preset.get("protocols", []), *preset.get("untrained", [])}]
        sections = [("finetune", tuned[0]), *((f"pretrain / method_options.{m}", c) for m, c in pretrained.items())]
        for section, cfg in sections:
            if cfg.devices != "1":  # Lightning starts each further process from the command line again
                raise UserError(f"{where}: {section} 'devices' is {cfg.devices!r}: a study trains on one device, "
                                f"since each process of several would run the whole study; use textssl pretrain / "
                                f"finetune")
        supervised = [supervised_config(preset, recognizer, {}, "-", labels[0], lr, where)
                      for lr in supervised_lrs(preset, recognizer, where)]
        if "self_train" in preset:
            self_train_config(preset, supervised[0], "-", "-", "-", where)
        for method, pre in pretrained.items():
            for key in ("encoder", "encoder_size", "channels"):
                ssl_value, scratch = getattr(pre, key), getattr(tuned[0], key) or _DEFAULTS[key]
                if ssl_value != scratch:
                    raise UserError(f"{where}: pretrain / method_options.{method} '{key}' is {ssl_value!r} but "
                                    f"finetune '{key}' is {scratch!r}: give both the same")


def pretrain_config(preset: dict, method: str, data: str, out: str, where: str) -> PretrainConfig:
    """The pretraining run of a 'methods' entry; 'untrained' gives the encoder's options alone."""
    own = preset.get("method_options", {})
    options = {**preset.get("pretrain", {}), **own.get(method_name(method), {}),
               **(own.get(method, {}) if ":" in method else {})}
    name = "simclr" if method == UNTRAINED else method_name(method)  # untrained: no method's options are read
    if method == UNTRAINED:
        options = {k: v for k, v in options.items() if k in _ENCODER_KEYS}
    fixed = {"data": [data], "out": out, "method": name, **_image(preset)}
    return with_method_options({**options, **fixed}, f"{where}: pretrain / method_options.{method}")


def finetune_config(preset: dict, recognizer: str, overrides: dict, out: str, labels: int, init: str | None,
                    where: str, data: dict | None = None, section: str = "finetune") -> FinetuneConfig:
    """A cell's fine-tuning config: 'finetune', then the recognizer's 'finetune', then ``overrides``."""
    data = data or {"labeled": "-", "val": "-"}
    fixed = {"train": [data["labeled"]], "val": data["val"], "out": out, "num_labels": labels, "init": init,
             "charset": preset["data"].get("charset", "captcha"), **_image(preset), **overrides}
    options = {**preset.get("finetune", {}), **recognizers(preset)[recognizer].get("finetune", {})}
    name = f"recognizers.{recognizer}.finetune / {section}" if recognizer else section
    return config_from_dict(FinetuneConfig, {**options, **fixed}, f"{where}: {name}")


def _supervised_options(preset: dict, recognizer: str) -> dict:
    return {**preset.get("supervised", {}), **recognizers(preset)[recognizer].get("supervised", {})}


def supervised_config(preset: dict, recognizer: str, overrides: dict, out: str, labels: int, lr: float, where: str,
                      data: dict | None = None) -> FinetuneConfig:
    """The supervised arm's cell: the fine-tuning options with the supervised arm's own on top."""
    options = {k: v for k, v in _supervised_options(preset, recognizer).items() if k != "lrs"}
    return finetune_config(preset, recognizer, {**options, **overrides, "lr": lr, "protocol": "full"}, out, labels,
                           None, where, data, section="finetune / supervised")


def supervised_lrs(preset: dict, recognizer: str, where: str) -> list[float]:
    """The supervised arm's learning rates: its 'lrs', else the one of 'finetune'."""
    return (_supervised_options(preset, recognizer).get("lrs")
            or [finetune_config(preset, recognizer, {}, "-", 1, None, where).lr])


def self_train_config(preset: dict, base: FinetuneConfig, base_run: str, unlabeled: str, out: str,
                      where: str) -> FinetuneConfig:
    """The +self-train cell of a base cell: its options and labels, from its run, at the learning rate of its
    last stage unless 'self_train' gives another."""
    last_lr = base.lr_whole if base.protocol == "two-stage" else base.lr
    options = {**base.saved(), "protocol": "self-train", "init": base_run, "unlabeled": [unlabeled], "out": out,
               "lr": last_lr, **preset.get("self_train", {}), "progress": base.progress}
    return config_from_dict(FinetuneConfig, options, f"{where}: self_train")


def _image(preset: dict) -> dict:
    return {"height": preset["data"].get("height", 32), "width": preset["data"].get("width", 128)}
