"""Fine-tuning protocols: supervised from scratch, full, frozen (decoder evaluation), two-stage, and
self-training from a fine-tuned recognizer (self_train.py)."""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import torch

from textssl.augment.views import build_view_augment
from textssl.data.charset import Charset
from textssl.data.dataset import ImageSpec, LmdbTextDataset, make_loader
from textssl.data.lmdb_io import LmdbReader
from textssl.errors import UserError
from textssl.models.assembly import assemble, encoder_size, from_config
from textssl.models.recognizer import Recognizer, upgrade_weights
from textssl.train.options import FINETUNE_STEPS, FinetuneConfig, TrainOptions
from textssl.train.recognition import RecognizerTask
from textssl.run_dir import (
    CONFIG,
    ENCODER_WEIGHTS,
    METRICS,
    MODEL_WEIGHTS,
    load_weights,
    read_charset,
    read_config,
    refuse_used_out,
    save_run,
    write_json,
)
from textssl.train.trainer import BestWeights, is_main_process, make_trainer, num_processes

MODEL_KEYS = ("encoder", "encoder_size", "height", "width", "channels")  # an --init run decides these
WEIGHTS = {"pretrain": ENCODER_WEIGHTS, "recognizer": MODEL_WEIGHTS}  # the weights file of each kind of --init run
RECOGNIZER_PROTOCOLS = ("full", "self-train")  # the protocols that may start from a fine-tuned recognizer
log = logging.getLogger("textssl")
__all__ = ["FinetuneConfig", "finetune", "settle_model"]


@dataclasses.dataclass(frozen=True)
class InitRun:
    """The run --init names: its directory, config.json and the weights file of its kind."""
    path: Path
    config: dict

    @property
    def kind(self) -> str:  # 'pretrain' or 'recognizer'
        return self.config["kind"]

    @property
    def weights(self) -> str:
        return WEIGHTS[self.kind]


def read_init(init: str) -> InitRun:
    _, config = read_config(init, CONFIG, tuple(WEIGHTS))
    return InitRun(*read_config(init, WEIGHTS[config["kind"]], config["kind"]))


def settle_model(cfg: FinetuneConfig, init: InitRun | None = None) -> FinetuneConfig:
    """``cfg`` with the recognizer's parts and image shape filled in: the --init run's, else the defaults.
    A value given that differs from the --init run's is refused: its weights were made for that one."""
    if cfg.protocol == "self-train" and cfg.init is None:
        raise UserError("--protocol self-train needs --init RUN, a fine-tuned recognizer, and --unlabeled LMDB")
    if cfg.init is None:
        defaults = {f.name: f.default for f in dataclasses.fields(TrainOptions) if f.name in MODEL_KEYS}
        filled = {k: defaults[k] for k in MODEL_KEYS if getattr(cfg, k) is None}
        return dataclasses.replace(cfg, **filled, sequence=cfg.sequence or "bilstm", decoder=cfg.decoder or "ctc")
    init = init or read_init(cfg.init)
    kind, pre = init.kind, init.config
    if kind == "recognizer" and cfg.protocol not in RECOGNIZER_PROTOCOLS:
        raise UserError(f"--init {cfg.init} is a fine-tuned recognizer: it starts --protocol full or self-train; "
                        f"--protocol {cfg.protocol} starts from a pretraining run")
    if kind == "pretrain" and cfg.protocol == "self-train":
        raise UserError(f"--protocol self-train starts from a fine-tuned recognizer; --init {cfg.init} is a "
                        f"pretraining run (fine-tune it first)")
    built = from_config(pre, cfg.init)
    taken = {"encoder": built.encoder, "encoder_size": encoder_size(built), "height": built.height,
             "width": built.width, "channels": built.in_channels}
    if kind == "recognizer" or pre.get("pretrain", {}).get("features") == "contextual":  # a trained sequence model
        taken["sequence"] = built.sequence
    if kind == "recognizer":
        taken["decoder"] = built.decoder
    for key, value in taken.items():
        given = getattr(cfg, key)
        if given is not None and value is not None and given != value:
            option = "--" + key.replace("_", "-")
            raise UserError(f"{option} {given}: the --init run {cfg.init} was trained with {value}; "
                            f"leave {option} out or give {value}")
    return dataclasses.replace(cfg, **{"sequence": cfg.sequence or "bilstm", "decoder": cfg.decoder or "ctc", **taken})


def settle_charset(cfg: FinetuneConfig, init: InitRun | None) -> Charset:
    """--charset; else a recognizer --init's; else the one stored in the training LMDBs; else the
    characters of their labels (said on the log)."""
    if init and init.kind == "recognizer":
        charset = read_charset(init.path, init.config)
        if cfg.charset and Charset.from_spec(cfg.charset) != charset:
            raise UserError(f"--charset {cfg.charset}: the recognizer --init {cfg.init} reads its own charset "
                            f"({len(charset)} characters); leave --charset out")
        return charset
    if cfg.charset:
        return Charset.from_spec(cfg.charset)
    stored, from_labels = "", ""
    for path in cfg.train:
        reader = LmdbReader(path)
        if reader.charset:
            stored += reader.charset
        elif reader.has_labels:
            from_labels += "".join(reader.label(i) or "" for i in range(len(reader)))
    if not stored and not from_labels:
        raise UserError(f"--train {', '.join(cfg.train)}: no labels to take a charset from")
    chars = "".join(dict.fromkeys(stored)) + "".join(sorted(set(from_labels) - set(stored)))
    if from_labels:
        log.info("charset: %d characters from the training labels%s: %s (give --charset to choose another)",
                 len(chars), " and the LMDBs' stored charset" if stored else "", chars)
    return Charset(chars, name="from-data" if from_labels else "stored")


def build_model(cfg: FinetuneConfig, charset: Charset,
                init: InitRun | None) -> tuple[Recognizer, ImageSpec, tuple[str, ...]]:
    """The recognizer, its image spec and the names of the modules that came from ``init`` (``cfg`` settled)."""
    spec = ImageSpec(cfg.height, cfg.width, cfg.channels)
    assembly = assemble(encoder=cfg.encoder, encoder_size=cfg.encoder_size, sequence=cfg.sequence,
                        shortcut=cfg.shortcut, decoder=cfg.decoder, max_length=cfg.max_length, rectify=cfg.rectify,
                        in_channels=cfg.channels, height=cfg.height, width=cfg.width)
    if init is None:
        return Recognizer(assembly, charset), spec, ()
    weights = upgrade_weights(load_weights(init.path / init.weights))
    pretrained = tuple(sorted({key.split(".", 1)[0] for key in weights}))
    built = from_config(init.config, cfg.init)  # its parts' options exactly, whatever size names say today
    assembly = dataclasses.replace(assembly, encoder_options=built.encoder_options)
    if "sequence" in pretrained:  # --shortcut decides only around a sequence model the --init run did not train
        assembly = dataclasses.replace(assembly, sequence_options=built.sequence_options)
    if init.kind == "recognizer":
        assembly = dataclasses.replace(assembly, decoder_options=built.decoder_options, rectify=built.rectify)
    model = Recognizer(assembly, charset)
    try:
        result = model.load_state_dict(weights, strict=False)
        misfits = result.unexpected_keys + [k for k in result.missing_keys if k.split(".", 1)[0] in pretrained]
    except RuntimeError as exc:  # a tensor of the wrong shape
        misfits = [str(exc).splitlines()[-1].strip()]
    if misfits:
        raise UserError(f"--init {cfg.init}: weights do not fit the recognizer ({misfits[0]} ...)")
    return model, spec, pretrained


def stages(cfg: FinetuneConfig, steps: int, pretrained: tuple[str, ...]) -> list[tuple[str, int, float, tuple]]:
    """(name, steps, learning rate, frozen modules) for each stage of the protocol before self-training."""
    if cfg.protocol in ("full", "self-train"):
        return [] if cfg.protocol == "self-train" else [("full", steps, cfg.lr, ())]
    if cfg.protocol == "frozen":
        return [("frozen", steps, cfg.lr, pretrained)]
    head = cfg.head_steps if cfg.head_steps is not None else max(1, steps // 5)
    if not 0 < head < steps:
        raise UserError(f"--head-steps {head} must be between 1 and the budget of {steps} steps minus 1")
    return [("head", head, cfg.lr, pretrained), ("whole", steps - head, cfg.lr_whole, ())]


def budget(cfg: FinetuneConfig, batches_per_epoch: int, processes: int) -> int:
    if cfg.max_steps:
        return cfg.max_steps
    if cfg.epochs:
        return math.ceil(cfg.epochs * batches_per_epoch / processes)
    return FINETUNE_STEPS


class FinetuneRun:
    """Runs the stages of one fine-tuning run on one model, keeping the best weights on validation."""

    def __init__(self, cfg: FinetuneConfig, model: Recognizer, charset: Charset, out: Path, val_loader):
        self.cfg, self.model, self.charset, self.out, self.val_loader = cfg, model, charset, out, val_loader
        self.augment = build_view_augment(cfg.augment, cfg.strength)
        self.best = BestWeights(out / MODEL_WEIGHTS, monitor=RecognizerTask.monitor)
        self.trained_steps = 0

    def stage(self, name: str, steps: int, lr: float, frozen: tuple, train_loader) -> None:
        cfg = self.cfg
        task = RecognizerTask(self.model, self.augment, lr=lr, weight_decay=cfg.weight_decay,
                              total_steps=steps, warmup=cfg.warmup, optimizer=cfg.optimizer, frozen=frozen)
        val_every = min(cfg.val_every or max(1, steps // 10), steps)
        trainer = make_trainer(self.out, name, max_steps=steps, callbacks=[self.best, *cfg.extra_callbacks],
                               progress=cfg.progress, val_every=val_every, early_stopping=cfg.early_stopping,
                               monitor=task.monitor, precision=cfg.precision, devices=cfg.devices, clip=cfg.clip)
        trainer.fit(task, train_loader, self.val_loader)
        self.trained_steps += trainer.global_step  # below ``steps`` when early stopping ended the stage
        trainer.validate(task, self.val_loader, verbose=False)

    def validate(self, name: str) -> float:
        """Validate the model as it is (before any stage of this run), so that the best weights start there."""
        task = RecognizerTask(self.model, self.augment, lr=0.0, weight_decay=0.0, total_steps=1,
                              warmup=0.0)
        make_trainer(self.out, name, max_steps=1, callbacks=[self.best], progress=False, val_every=1,
                     precision=self.cfg.precision, devices=self.cfg.devices).validate(task, self.val_loader,
                                                                                      verbose=False)
        return self.best.best

    def load_best(self) -> None:
        self.model.load_state_dict(load_weights(self.best.path))


def finetune(cfg: FinetuneConfig) -> dict:
    """Train a recognizer into ``cfg.out``; returns the metrics written to metrics.json."""
    from textssl.train.self_train import self_train

    out = Path(cfg.out)
    if is_main_process():  # the further processes of --devices N find the run started
        refuse_used_out(out)
    if cfg.protocol in ("frozen", "two-stage") and cfg.init is None:
        raise UserError(f"--protocol {cfg.protocol} needs --init PRETRAIN_RUN")
    if (cfg.protocol == "self-train") != bool(cfg.unlabeled):
        raise UserError("--unlabeled LMDB goes with --protocol self-train (from a fine-tuned recognizer, --init RUN), "
                        "and that protocol needs it")
    init = read_init(cfg.init) if cfg.init else None
    cfg = settle_model(cfg, init)
    torch.manual_seed(cfg.seed)
    charset = settle_charset(cfg, init)
    model, spec, pretrained = build_model(cfg, charset, init)
    train_set = LmdbTextDataset(cfg.train, spec, charset=charset, labeled=True, num_labels=cfg.num_labels,
                                seed=cfg.seed, misfit=model.misfit, allow_skipped=cfg.allow_skipped)
    val_set = LmdbTextDataset(cfg.val, spec, charset=charset, labeled=True, misfit=model.misfit,
                              allow_skipped=cfg.allow_skipped)
    train_loader = make_loader(train_set, cfg.batch_size, shuffle=True, drop_last=True, workers=cfg.workers)
    val_loader = make_loader(val_set, 256, shuffle=False, workers=cfg.workers)
    processes = num_processes(cfg.devices, cfg.precision)  # also checks both before the run is written
    steps = budget(cfg, len(train_loader), processes)
    plan = stages(cfg, steps, pretrained)

    config = {"kind": "recognizer", "assembly": model.assembly.to_dict(), "image": spec.to_dict(),
              "charset_name": charset.name, "pretrained_modules": list(pretrained), "finetune": cfg.saved()}
    if is_main_process():
        save_run(out, config, charset)
    start = time.time()
    trainer = FinetuneRun(cfg, model, charset, out, val_loader)
    for name, stage_steps, lr, frozen in plan:
        trainer.stage(name, stage_steps, lr, frozen, train_loader)
    rounds = self_train(cfg, trainer, train_set, steps) if cfg.protocol == "self-train" else []
    metrics = {"val_word_accuracy": trainer.best.best, "train_seconds": time.time() - start, "steps": steps,
               "trained_steps": trainer.trained_steps, "train_samples": len(train_set),
               "parameters": sum(p.numel() for p in model.parameters()),
               "stages": [{"name": n, "steps": s, "lr": lr, "frozen": list(f)} for n, s, lr, f in plan],
               **({"self_training": rounds} if rounds else {}),
               "plateau": trainer.best.best == 0.0}
    if is_main_process():
        write_json(out / METRICS, metrics)
    return metrics


def plateau_note(cfg: FinetuneConfig) -> str:
    """What a run that read none of its validation set says last, and what to change."""
    alternatives = "more --max-steps, another --lr or --warmup 0.2" + \
        (", or --protocol full" if cfg.protocol != "full" else "")
    return (f"{cfg.out}: reads none of the validation set: it ended on CTC's all-blank plateau "
            f"(metrics.json: plateau true); try {alternatives}")
