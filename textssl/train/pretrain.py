"""SSL pretraining of a recognizer's encoder: views on the device, one method's loss, resumable."""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from textssl.augment.views import build_view_augment, make_views
from textssl.data.dataset import ImageSpec, LmdbTextDataset, make_loader
from textssl.errors import UserError
from textssl.methods import build_method
from textssl.models.crnn import PretrainBackbone, model_config
from textssl.train.run_dir import ENCODER_WEIGHTS, METRICS, save_run, save_weights, write_json
from textssl.train.schedule import make_optimizer, warmup_cosine
from textssl.train.trainer import make_trainer


@dataclass
class PretrainConfig:
    data: list[str]
    out: str
    method: str = "seqclr"
    mapping: str | None = None
    windows: int = 5
    head: str = "mlp"
    features: str = "visual"
    proj_dim: int = 128
    hidden_dim: int = 256
    temperature: float = 0.1
    epochs: float = 10
    max_steps: int | None = None
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05
    augment: str = "seqclr"
    strength: float = 1.0
    model: str = "small"
    height: int = 32
    width: int = 128
    channels: int = 1
    checkpoint_every: int = 100
    resume: bool = False
    seed: int = 0
    precision: str = "32-true"
    devices: str = "auto"
    workers: int = 2
    progress: bool = True
    extra_callbacks: list = field(default_factory=list)  # Lightning callbacks (Python API only)


def collapse_indicator(embeddings: torch.Tensor) -> torch.Tensor:
    """Mean over dimensions of the std of L2-normalised embeddings [N, d]; ~1/sqrt(d) when healthy, 0 collapsed."""
    return F.normalize(embeddings.detach().float(), dim=1).std(0).mean()


class PretrainTask(L.LightningModule):
    def __init__(self, method, augment, *, optimizer: str, lr: float, weight_decay: float, total_steps: int,
                 warmup: float):
        super().__init__()
        self.method, self.augment = method, augment
        self.optimizer_name, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.total_steps, self.warmup = total_steps, warmup

    def training_step(self, batch, _):
        images = batch[0]
        with torch.no_grad():
            views = make_views(images, self.augment, 2)
        loss, embeddings = self.method(views)
        self.log("loss", loss, prog_bar=True)
        self.log("collapse_std", collapse_indicator(embeddings), prog_bar=True)
        return loss

    def configure_optimizers(self):
        optimizer = make_optimizer(self.method.parameters(), self.optimizer_name, self.lr, self.weight_decay)
        return {"optimizer": optimizer, "lr_scheduler": warmup_cosine(optimizer, self.total_steps, self.warmup)}


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary file, then renames it over the old one."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)


def pretrain(cfg: PretrainConfig) -> dict:
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    last = out / "checkpoints" / "last.ckpt"
    if cfg.resume and not last.is_file():
        raise UserError(f"--resume: no checkpoint at {last}")
    if not cfg.resume and last.is_file():
        raise UserError(f"{out}: holds a pretraining checkpoint; pass --resume to continue it or choose another --out")
    spec = ImageSpec(cfg.height, cfg.width, cfg.channels)
    mcfg = model_config(cfg.model, cfg.channels, cfg.height)
    backbone = PretrainBackbone(mcfg, cfg.features)
    method = build_method(cfg.method, backbone, mapping=cfg.mapping, windows=cfg.windows, head=cfg.head,
                          proj_dim=cfg.proj_dim, hidden_dim=cfg.hidden_dim, temperature=cfg.temperature)
    augment = build_view_augment(cfg.augment, cfg.strength)
    dataset = LmdbTextDataset(cfg.data, spec)
    loader = make_loader(dataset, cfg.batch_size, shuffle=True, drop_last=True, workers=cfg.workers)
    steps = cfg.max_steps or math.ceil(cfg.epochs * len(loader))
    task = PretrainTask(method, augment, optimizer=cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay,
                        total_steps=steps, warmup=cfg.warmup)
    save_run(out, {"kind": "pretrain", "model": mcfg.to_dict(), "image": spec.to_dict(),
                   "method": method.__class__.__name__.lower(), "mapping": method.mapping,
                   "pretrain": {k: v for k, v in asdict(cfg).items() if k not in ("progress", "resume", "extra_callbacks")}})
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", save_top_k=0, save_last=True,
                                 every_n_train_steps=cfg.checkpoint_every)
    version = f"pretrain-resumed-{torch.load(last, weights_only=False)['global_step']}" if cfg.resume else "pretrain"
    trainer = make_trainer(out, version, max_steps=steps, callbacks=[checkpoint, *cfg.extra_callbacks], progress=cfg.progress,
                           precision=cfg.precision, devices=cfg.devices)
    trainer.strategy.checkpoint_io = AtomicCheckpointIO()
    start = time.time()
    trainer.fit(task, loader, ckpt_path=str(last) if cfg.resume else None)
    trainer.save_checkpoint(last)
    save_weights(out / ENCODER_WEIGHTS, backbone.state_dict())
    metrics = {"steps": trainer.global_step, "seconds": time.time() - start, "samples": len(dataset),
               **{k: float(v) for k, v in trainer.callback_metrics.items()}}
    write_json(out / METRICS, metrics)
    return metrics
