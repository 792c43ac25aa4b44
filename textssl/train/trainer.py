"""Lightning Trainer set-up shared by pretraining and fine-tuning, and the best-weights callback."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from textssl.errors import UserError
from textssl.run_dir import save_weights


def quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (".*does not have many workers.*", ".*LightningModule.*has parameters that were not used.*",
                    ".*The number of training batches.*", ".*Checkpoint directory.*exists and is not empty.*",
                    ".*_pytree.*", r".*module\(s\) in eval mode.*", ".*`isinstance.*LeafSpec.*",
                    ".*Using `DistributedSampler` with the dataloaders.*",  # validation repeats < N images (README)
                    # a streamed batch of undecodable images, named in textssl's own warning
                    ".*`training_step` returned `None`.*", ".*train_dataloader yielded None.*",
                    # a resumed SSL run reshuffles the rest of its epoch, which is as good as the unseen order
                    ".*resuming from a checkpoint that ended before the epoch ended.*",
                    # several optimizers (adversarial methods): a checkpoint after the step is what resume wants
                    ".*ModelCheckpoint with manual optimization.*"):
        warnings.filterwarnings("ignore", pattern)


def is_main_process() -> bool:
    """False in the processes that Lightning starts again from the command line for --devices N > 1:
    they train beside the first one, which alone checks and writes the run's files."""
    return rank_zero_only.rank == 0


class BestWeights(Callback):
    """Keeps the weights with the best validation word accuracy and writes them as safetensors."""

    def __init__(self, path: Path, monitor: str = "val_word_accuracy", best: float = -1.0):
        self.path, self.monitor, self.best = Path(path), monitor, best

    def on_validation_end(self, trainer, module):
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or trainer.sanity_checking or float(value) < self.best:  # ties: the later weights
            return
        self.best = float(value)
        if trainer.is_global_zero:
            save_weights(self.path, module.model.state_dict())


class EarlyStoppingOffThePlateau(EarlyStopping):
    """Lightning's early stopping, counting only validations that read something: a recognizer on
    CTC's all-blank plateau reads nothing for hundreds of steps before it starts to learn."""

    def __init__(self, patience: int, monitor: str = "val_word_accuracy"):
        super().__init__(monitor, mode="max", patience=patience, check_on_train_epoch_end=False)

    def on_validation_end(self, trainer, module):
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and float(value) > 0.0:
            super().on_validation_end(trainer, module)


def _trainer(devices: int | str, precision: str, **options) -> L.Trainer:
    quiet_lightning()
    try:
        return L.Trainer(devices=devices, precision=precision, **options)
    except (MisconfigurationException, ValueError, TypeError) as exc:
        raise UserError(f"--devices {devices} / --precision {precision}: {exc}") from None


def num_processes(devices: int | str, precision: str = "32-true") -> int:
    """How many processes Lightning trains on for ``--devices``; each takes its own batches."""
    return _trainer(devices, precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                    enable_model_summary=False).world_size


def make_trainer(out: Path, stage: str, *, max_steps: int, callbacks: list[Callback], progress: bool = True,
                 val_every: int | None = None, early_stopping: int | None = None, monitor: str = "val_word_accuracy",
                 precision: str = "32-true",
                 devices: int | str = 1, clip: float | None = None, sync_batchnorm: bool = False) -> L.Trainer:
    callbacks = list(callbacks)
    if progress:
        callbacks.append(TQDMProgressBar(refresh_rate=10))
    if early_stopping:
        callbacks.append(EarlyStoppingOffThePlateau(early_stopping, monitor))
    return _trainer(
        devices, precision, default_root_dir=str(out), max_steps=max_steps, max_epochs=-1, callbacks=callbacks,
        # only the checkpoints a caller asks for: Lightning's default one, 10 MB written at every validation
        # of fine-tuning, is neither atomic nor read by anything
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        logger=CSVLogger(str(out), name="logs", version=stage), enable_progress_bar=progress,
        enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=10,
        val_check_interval=val_every, check_val_every_n_epoch=None if val_every else 1,
        limit_val_batches=1.0 if val_every else 0, gradient_clip_val=clip, benchmark=torch.cuda.is_available(),
        sync_batchnorm=sync_batchnorm,
    )
