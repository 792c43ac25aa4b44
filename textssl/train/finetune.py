"""Fine-tuning protocols: supervised from scratch, full, frozen (decoder evaluation) and two-stage."""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from textssl.augment.views import build_view_augment
from textssl.config import at_least, choice, multiple_of
from textssl.data.charset import Charset
from textssl.data.dataset import ImageSpec, LmdbTextDataset, make_loader
from textssl.errors import UserError
from textssl.models.crnn import SIZES, ModelConfig, Recognizer, model_config
from textssl.train.options import TrainOptions
from textssl.train.recognition import RecognizerTask
from textssl.train.run_dir import (
    ENCODER_WEIGHTS,
    METRICS,
    MODEL_WEIGHTS,
    load_weights,
    read_config,
    refuse_used_out,
    save_run,
    write_json,
)
from textssl.train.trainer import BestWeights, is_main_process, make_trainer, num_processes

PROTOCOLS = ("full", "frozen", "two-stage")
MODEL_KEYS = ("model", "height", "width", "channels")
log = logging.getLogger("textssl")


@dataclass(kw_only=True)
class FinetuneConfig(TrainOptions):
    train: list[str]
    val: str
    out: str
    init: str | None = None
    protocol: str = choice("full", PROTOCOLS)
    num_labels: int | None = at_least(None, 1)
    epochs: float = at_least(20, 0.01)
    head_steps: int | None = at_least(None, 1)  # two-stage: steps of the head-only stage (default: a fifth)
    lr_whole: float = at_least(3e-5, 0.0)  # two-stage: learning rate of the whole-network stage
    charset: str = "captcha"
    val_every: int | None = at_least(None, 1)
    early_stopping: int | None = at_least(None, 1)
    clip: float = at_least(5.0, 0.0)
    # None: the --init run's, or without --init the pretraining defaults (small, 32, 128, 1)
    model: str | None = choice(None, SIZES)
    height: int | None = multiple_of(None, 8)
    width: int | None = at_least(None, 8)
    channels: int | None = choice(None, (1, 3))


def settle_model(cfg: FinetuneConfig) -> FinetuneConfig:
    """``cfg`` with the model size and image shape filled in: the --init run's, else the defaults.
    A value given that differs from the --init run's is refused: its encoder was built for that one."""
    if cfg.init is None:
        defaults = {f.name: f.default for f in dataclasses.fields(TrainOptions) if f.name in MODEL_KEYS}
        return dataclasses.replace(cfg, **{k: defaults[k] for k in MODEL_KEYS if getattr(cfg, k) is None})
    _, pre = read_config(cfg.init, ENCODER_WEIGHTS, "pretrain")
    built = {"model": pre.get("pretrain", {}).get("model", "small"), **pre["image"]}
    for key in MODEL_KEYS:
        given = getattr(cfg, key)
        if given is not None and given != built[key]:
            raise UserError(f"--{key} {given}: the encoder of --init {cfg.init} was pretrained with {built[key]}; "
                            f"leave --{key} out or give {built[key]}")
    return dataclasses.replace(cfg, **{k: built[k] for k in MODEL_KEYS})


def load_pretrained(init: str) -> tuple[dict, dict]:
    """(pretrain config, backbone weights) of a pretraining run."""
    run, config = read_config(init, ENCODER_WEIGHTS, "pretrain")
    return config, load_weights(run / ENCODER_WEIGHTS)


def build_model(cfg: FinetuneConfig, charset: Charset) -> tuple[Recognizer, ImageSpec, tuple[str, ...]]:
    """The recognizer, its image spec and the names of the modules that came pretrained (``cfg`` settled)."""
    if cfg.init is None:
        spec = ImageSpec(cfg.height, cfg.width, cfg.channels)
        model = Recognizer(model_config(cfg.model, cfg.channels, cfg.height, cfg.shortcut), charset.num_classes)
        return model, spec, ()
    pre, weights = load_pretrained(cfg.init)
    spec = ImageSpec(**pre["image"])
    pretrained = tuple(sorted({key.split(".", 1)[0] for key in weights}))
    # the architecture is the pretraining run's; --shortcut decides only around a sequence model it did not train
    mcfg = ModelConfig.from_dict(pre["model"], cfg.init)
    if "sequence" not in pretrained:
        mcfg = dataclasses.replace(mcfg, shortcut=cfg.shortcut)
    model = Recognizer(mcfg, charset.num_classes)
    try:
        result = model.load_state_dict(weights, strict=False)
        misfits = result.unexpected_keys + [k for k in result.missing_keys if k.split(".", 1)[0] in pretrained]
    except RuntimeError as exc:  # a tensor of the wrong shape
        misfits = [str(exc).splitlines()[-1].strip()]
    if misfits:
        raise UserError(f"--init {cfg.init}: weights do not fit the recognizer ({misfits[0]} ...)")
    return model, spec, pretrained


def stages(cfg: FinetuneConfig, steps: int, pretrained: tuple[str, ...]) -> list[tuple[str, int, float, tuple]]:
    """(name, steps, learning rate, frozen modules) for each stage of the protocol."""
    if cfg.protocol == "full":
        return [("full", steps, cfg.lr, ())]
    if cfg.protocol == "frozen":
        return [("frozen", steps, cfg.lr, pretrained)]
    head = cfg.head_steps if cfg.head_steps is not None else max(1, steps // 5)
    if not 0 < head < steps:
        raise UserError(f"--head-steps {head} must be between 1 and the budget of {steps} steps minus 1")
    return [("head", head, cfg.lr, pretrained), ("whole", steps - head, cfg.lr_whole, ())]


def finetune(cfg: FinetuneConfig) -> dict:
    """Train a recognizer into ``cfg.out``; returns the metrics written to metrics.json."""
    out = Path(cfg.out)
    if is_main_process():  # the further processes of --devices N find the run started
        refuse_used_out(out)
    if cfg.protocol != "full" and cfg.init is None:
        raise UserError(f"--protocol {cfg.protocol} needs --init PRETRAIN_RUN")
    cfg = settle_model(cfg)
    torch.manual_seed(cfg.seed)
    charset = Charset.from_spec(cfg.charset)
    model, spec, pretrained = build_model(cfg, charset)
    augment = build_view_augment(cfg.augment, cfg.strength)
    frames = model.frames(spec)
    train_set = LmdbTextDataset(cfg.train, spec, charset=charset, labeled=True, num_labels=cfg.num_labels,
                                seed=cfg.seed, max_frames=frames)
    val_set = LmdbTextDataset(cfg.val, spec, charset=charset, labeled=True, max_frames=frames)
    train_loader = make_loader(train_set, cfg.batch_size, shuffle=True, drop_last=True, workers=cfg.workers)
    val_loader = make_loader(val_set, 256, shuffle=False, workers=cfg.workers)
    processes = num_processes(cfg.devices, cfg.precision)  # also checks both before the run is written
    steps = cfg.max_steps or math.ceil(cfg.epochs * len(train_loader) / processes)
    plan = stages(cfg, steps, pretrained)

    config = {"kind": "recognizer", "model": model.cfg.to_dict(), "image": spec.to_dict(),
              "charset_name": charset.name, "pretrained_modules": list(pretrained),
              "finetune": cfg.saved()}
    if is_main_process():
        save_run(out, config, charset)
    best = BestWeights(out / MODEL_WEIGHTS)
    start, trained_steps = time.time(), 0
    for name, stage_steps, lr, frozen in plan:
        task = RecognizerTask(model, charset, augment, lr=lr, weight_decay=cfg.weight_decay, total_steps=stage_steps,
                              warmup=cfg.warmup, optimizer=cfg.optimizer, frozen=frozen)
        val_every = min(cfg.val_every or max(1, stage_steps // 10), stage_steps)
        trainer = make_trainer(out, name, max_steps=stage_steps, callbacks=[best, *cfg.extra_callbacks],
                               progress=cfg.progress, val_every=val_every, early_stopping=cfg.early_stopping,
                               precision=cfg.precision, devices=cfg.devices, clip=cfg.clip)
        trainer.fit(task, train_loader, val_loader)
        trained_steps += trainer.global_step  # below stage_steps when early stopping ended the stage
        trainer.validate(task, val_loader, verbose=False)
    metrics = {"val_word_accuracy": best.best, "train_seconds": time.time() - start, "steps": steps,
               "trained_steps": trained_steps,
               "train_samples": len(train_set), "parameters": sum(p.numel() for p in model.parameters()),
               "stages": [{"name": n, "steps": s, "lr": lr, "frozen": list(f)} for n, s, lr, f in plan]}
    if not is_main_process():
        return metrics
    write_json(out / METRICS, metrics)
    if best.best == 0.0:
        alternatives = "more --max-steps or another --lr" + (", or --protocol full" if cfg.protocol != "full" else "")
        log.warning("%s: reads none of the validation set, as on CTC's all-blank plateau; try %s", out, alternatives)
    return metrics
