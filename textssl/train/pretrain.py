"""SSL pretraining of a recognizer's encoder: views on the device, one method's loss, resumable."""
from __future__ import annotations

import dataclasses
import math
import pickle
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from textssl.config import config_from_dict, read_yaml
from textssl.data.dataset import ImageSpec, LmdbTextDataset, collate, make_loader
from textssl.errors import UserError
from textssl.methods import build_method, method_class
from textssl.methods.base import MethodBatch, ViewMaker
from textssl.models.assembly import assemble
from textssl.models.recognizer import PretrainBackbone
from textssl.train.options import PretrainConfig, with_method_options
from textssl.train.previews import method_preview
from textssl.run_dir import (
    CONFIG,
    ENCODER_WEIGHTS,
    METRICS,
    read_config,
    refuse_used_out,
    replaced_atomically,
    save_run,
    save_weights,
    write_json,
)
from textssl.train.schedule import make_optimizer, warmup_cosine
from textssl.train.trainer import is_main_process, make_trainer, num_processes

LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
RUN_TIME = ("progress", "workers", "devices", "precision")  # options a resumed run may change
__all__ = ["PretrainConfig", "pretrain", "pretrain_config"]


def collapse_indicator(embeddings: torch.Tensor) -> torch.Tensor:
    """Mean over dimensions of the std of L2-normalised embeddings [N, d]; ~1/sqrt(d) when healthy, 0 collapsed."""
    return F.normalize(embeddings.detach().float(), dim=1).std(0).mean()


class PretrainTask(L.LightningModule):
    """Runs one SSL method as textssl.methods.base describes: its views, its optimizers, its hook."""

    def __init__(self, method, augment: str, strength: float, *, optimizer: str, lr: float, weight_decay: float,
                 total_steps: int, warmup: float):
        super().__init__()
        self.method = method
        self.make_views = ViewMaker(method, augment, strength)
        self.optimizer_name, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.total_steps, self.warmup = total_steps, warmup
        self.groups = method.parameter_groups()
        self.automatic_optimization = len(self.groups) == 1
        self.steps_per_batch = len(self.groups)  # Lightning counts each optimizer's step as a step
        self.seconds_before, self.started = 0.0, time.time()  # training time of the runs this one resumes

    def seconds(self) -> float:
        return self.seconds_before + time.time() - self.started

    def on_train_start(self):
        self.started = time.time()

    def on_save_checkpoint(self, checkpoint):
        checkpoint["pretrain_seconds"] = self.seconds()
        # the sampler's shuffle and the views draw from torch's generators: a resumed run goes on with
        # new images and views instead of replaying the first ones of its seed
        checkpoint["rng_states"] = {"cpu": torch.get_rng_state(),
                                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}

    def on_load_checkpoint(self, checkpoint):
        self.seconds_before = checkpoint.get("pretrain_seconds", 0.0)
        states = checkpoint.get("rng_states")
        if states:
            torch.set_rng_state(states["cpu"])
            if states["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(states["cuda"])

    def training_step(self, batch, _):
        if len(batch.images) < 2:  # one decodable image left in a streamed batch: skipped, as Lightning skips none
            return None
        inputs = self.make_views(batch.images, batch.widths)
        if not self.automatic_optimization:
            return self.stepped_losses(inputs)
        loss, embeddings = self.method(inputs)
        self.log("loss", loss, prog_bar=True)
        self.log("collapse_std", collapse_indicator(embeddings), prog_bar=True)
        self.log_method_values()
        return loss

    def log_method_values(self):
        for name, value in getattr(self.method, "logged", {}).items():
            self.log(name, value, prog_bar=True)

    def stepped_losses(self, inputs: MethodBatch) -> torch.Tensor:
        """Several optimizers: each of the method's losses backpropagated and stepped before the next."""
        optimizers = dict(zip(self.groups, self.optimizers()))
        schedulers = dict(zip(self.groups, self.lr_schedulers()))
        for name, loss in self.method.losses(inputs):
            optimizers[name].zero_grad()
            self.manual_backward(loss)
            optimizers[name].step()
            schedulers[name].step()
            self.log(f"loss_{name}", loss, prog_bar=True)
        self.log("loss", loss)
        embeddings = getattr(self.method, "embeddings", None)
        if embeddings is not None:
            self.log("collapse_std", collapse_indicator(embeddings), prog_bar=True)
        self.log_method_values()
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.method.after_step(self.trainer.global_step // self.steps_per_batch, self.total_steps)

    def configure_optimizers(self):
        configured = []
        for groups in self.groups.values():
            groups = [{**g, "lr": self.lr * g.get("lr_scale", 1.0)} for g in groups]
            optimizer = make_optimizer(groups, self.optimizer_name, self.lr, self.weight_decay)
            configured.append({"optimizer": optimizer,
                               "lr_scheduler": warmup_cosine(optimizer, self.total_steps, self.warmup)})
        return configured[0] if len(configured) == 1 else configured


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary file, then renames it over the old one: a failed write (a full
    disk) leaves the previous checkpoint as it was and ends the run with one line. Reads checkpoints
    with ``weights_only``: tensors and plain containers, never objects that run code when unpickled."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with replaced_atomically(path) as tmp:
                torch.save(checkpoint, tmp)
        except (OSError, RuntimeError) as exc:  # torch.save's writer reports a full disk as a RuntimeError
            reason = getattr(exc, "strerror", None) or (str(exc.args[0]) if exc.args else "") or _first_line(exc)
            raise UserError(f"{path}: cannot write the checkpoint ({reason}); the previous one is kept") from None

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        return load_checkpoint(Path(path))


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc.args[0] if exc.args else exc).splitlines() if line.strip()]
    return lines[0][:200] if lines else exc.__class__.__name__


def load_checkpoint(path: Path) -> dict:
    """A Lightning checkpoint read with torch.load(weights_only=True), or a UserError naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(f"{path}: refused, it holds more than tensors and plain values ({_first_line(exc)})") \
            from None
    except Exception as exc:  # torch.load raises many types for a damaged file
        raise UserError(f"{path}: unreadable checkpoint ({exc.__class__.__name__})") from None


def pretrain_config(options: dict, yaml_path: str | None = None) -> PretrainConfig:
    """The config from command-line ``options`` (the method's under ``method_options``) over a ``--config``
    file. With --resume the run's saved options hold, so only --out and the run-time options may be given."""
    options = dict(options)
    method_overrides = options.pop("method_options", None) or {}
    if not options.get("resume"):
        cfg = with_method_options(read_yaml(yaml_path) if yaml_path else {}, str(yaml_path), method_overrides,
                                  overrides=options)
        if cfg.resume:
            raise UserError(f"{yaml_path}: 'resume' belongs on the command line: textssl pretrain --out RUN --resume")
        return cfg
    given = ["config"] * bool(yaml_path) + [k for k in {**options, **method_overrides}
                                            if k not in ("out", "resume", *RUN_TIME)]
    if given:
        raise UserError(f"--resume continues with the options saved in OUT/{CONFIG}; "
                        f"drop --{given[0].replace('_', '-')}")
    if "out" not in options:
        raise UserError("missing required option --out")
    run, config = read_config(options["out"], CONFIG, "pretrain")
    return with_method_options(config.get("pretrain", {}), str(run / CONFIG), saved=True, overrides=options)


def resumed_config(cfg: PretrainConfig) -> tuple[PretrainConfig, int]:
    """The run's saved options (run-time ones such as --progress and --workers from ``cfg``) and the
    step its last checkpoint reached."""
    run, config = read_config(cfg.out, CONFIG, "pretrain")
    last = run / LAST_CHECKPOINT
    if not last.is_file():
        raise UserError(f"--resume: no checkpoint at {last}")
    step = load_checkpoint(last).get("global_step")
    if not isinstance(step, int):
        raise UserError(f"{last}: not a pretraining checkpoint (no global_step)")
    run_time = {k: getattr(cfg, k) for k in (*RUN_TIME, "extra_callbacks")}
    saved = with_method_options(config.get("pretrain", {}), str(run / CONFIG), saved=True)
    return dataclasses.replace(saved, resume=True, out=cfg.out, **run_time), step


def _backbone(cfg: PretrainConfig) -> tuple[ImageSpec, object, PretrainBackbone]:
    torch.manual_seed(cfg.seed)
    spec = ImageSpec(cfg.height, cfg.width, cfg.channels)
    assembly = assemble(encoder=cfg.encoder, encoder_size=cfg.encoder_size, sequence=cfg.sequence,
                        shortcut=cfg.shortcut, decoder=None, in_channels=cfg.channels, height=cfg.height,
                        width=cfg.width)
    return spec, assembly, PretrainBackbone(assembly, cfg.features)


def save_untrained(cfg: PretrainConfig, calibration_batches: int = 20) -> dict:
    """A pretraining run of ``cfg``'s encoder as initialised, trained on nothing: the baseline that says
    what a frozen encoder reads without pretraining (``cfg.method`` is not used). Its BatchNorm statistics
    are those of ``calibration_batches`` batches of ``cfg.data`` (no weight changes): left at their
    initial values, they would not normalise, and the features would be about 100x smaller than a
    pretrained encoder's, a baseline that says more about scale than about representation."""
    out = Path(cfg.out)
    refuse_used_out(out)
    spec, assembly, backbone = _backbone(cfg)
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if norms:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batches
        loader = make_loader(LmdbTextDataset(cfg.data, spec, allow_skipped=cfg.allow_skipped), cfg.batch_size,
                             shuffle=True, workers=0, in_memory=False)
        backbone.train()
        with torch.no_grad():
            for _, batch in zip(range(calibration_batches), loader):
                backbone(batch.images.float() / 255)
        for m in norms:
            m.momentum = 0.1
    save_run(out, {"kind": "pretrain", "assembly": assembly.to_dict(), "image": spec.to_dict(),
                   "method": "untrained", "pretrain": cfg.saved()})
    save_weights(out / ENCODER_WEIGHTS, backbone.state_dict())
    metrics = {"steps": 0, "seconds": 0.0, "samples": 0}
    write_json(out / METRICS, metrics)
    return metrics


def pretrain(cfg: PretrainConfig) -> dict:
    """SSL-pretrain into ``cfg.out``; with ``cfg.resume``, continue that run from its last checkpoint."""
    out = Path(cfg.out)
    last = out / LAST_CHECKPOINT
    resumed_at = None
    if cfg.resume:
        cfg, resumed_at = resumed_config(cfg)
    elif last.is_file():
        raise UserError(f"{out}: holds a pretraining checkpoint; pass --resume to continue it or choose another --out")
    elif is_main_process():  # the further processes of --devices N find the run started
        refuse_used_out(out)
    spec, assembly, backbone = _backbone(cfg)
    options = config_from_dict(method_class(cfg.method).Options, cfg.method_options, "method_options")
    method = build_method(cfg.method, backbone, options)
    problem = method.check_frames(backbone.encoder.frames(cfg.width), cfg.width)
    if problem:
        raise UserError(problem)
    dataset = LmdbTextDataset(cfg.data, spec, allow_skipped=cfg.allow_skipped)
    if len(dataset) < 2:
        raise UserError(f"{', '.join(cfg.data)}: one image; pretraining compares images of a batch, it needs two")
    # streamed from the LMDB whatever its size: memory stays flat in the number of images
    loader = make_loader(dataset, cfg.batch_size, shuffle=True, drop_last=True, workers=cfg.workers, in_memory=False)
    processes = num_processes(cfg.devices, cfg.precision)  # also checks both before the run is written
    steps = cfg.max_steps or math.ceil(cfg.epochs * len(loader) / processes)
    task = PretrainTask(method, cfg.augment, cfg.strength, optimizer=cfg.optimizer, lr=cfg.lr,
                        weight_decay=cfg.weight_decay, total_steps=steps, warmup=cfg.warmup)
    if is_main_process():
        save_run(out, {"kind": "pretrain", "assembly": assembly.to_dict(), "image": spec.to_dict(),
                       "method": cfg.method, "pretrain": cfg.saved()})
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", save_top_k=0, save_last=True,
                                 every_n_train_steps=cfg.checkpoint_every * task.steps_per_batch)
    callbacks = [checkpoint, *cfg.extra_callbacks]
    preview = method_preview(method, collate([dataset[i] for i in range(min(6, len(dataset)))]), out)
    callbacks += [preview] if preview else []
    version = "pretrain" if resumed_at is None else f"pretrain-resumed-{resumed_at}"
    trainer = make_trainer(out, version, max_steps=steps * task.steps_per_batch,
                           callbacks=callbacks,
                           progress=cfg.progress, precision=cfg.precision, devices=cfg.devices,
                           # BatchNorm's statistics over the global batch, as the SSL methods' papers train
                           # (torch's SyncBatchNorm runs on GPUs only)
                           sync_batchnorm=processes > 1 and torch.cuda.is_available())
    trainer.strategy.checkpoint_io = AtomicCheckpointIO()
    trainer.fit(task, loader, ckpt_path=str(last) if cfg.resume else None)
    trainer.save_checkpoint(last)
    metrics = {"steps": trainer.global_step // task.steps_per_batch, "seconds": task.seconds(), "samples": len(dataset),
               **{k: float(v) for k, v in trainer.callback_metrics.items()}}
    if is_main_process():
        save_weights(out / ENCODER_WEIGHTS, backbone.state_dict())
        write_json(out / METRICS, metrics)
    return metrics
