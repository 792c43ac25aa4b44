"""The recognition task: the Lightning module that trains a recognizer (any decoder: its own loss), with
parts of it optionally frozen.

The downstream task contract (``recognition`` today; document classification and text-line detection
follow it). A task owns
- its **labels**: what a labeled row holds and which rows it refuses (a recognizer: text within its
  decoder's charset and length limit, ``Recognizer.misfit``);
- its **head** on the pretrained parts: a recognizer's sequence model and decoder;
- its **loss** (the head's: ``model.loss(images, labels)``) and its **metric** on validation, logged
  under ``monitor``: the name of the metric, higher better, that picks the best checkpoint
  (textssl.train.trainer.BestWeights) and that early stopping watches;
- a model whose **pretrained parts** are attributes named as the pretraining run's weights name them
  (``encoder``, ``sequence``): the protocols freeze those by name (``frozen=``): ``frozen`` trains the
  head alone on them, ``two-stage`` the head first and then the whole, ``full`` everything from the
  start (textssl.train.finetune.stages).
"""
from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric

from textssl.models.recognizer import Recognizer
from textssl.train.schedule import make_optimizer, warmup_cosine


class RecognizerTask(L.LightningModule):
    """Recognition training; modules named in ``frozen`` get no gradient and keep their BatchNorm statistics
    until the training ends."""
    monitor = "val_word_accuracy"

    def __init__(self, model: Recognizer, augment: nn.Module, *, lr: float,
                 weight_decay: float, total_steps: int, warmup: float, optimizer: str = "adamw",
                 frozen: tuple[str, ...] = ()):
        super().__init__()
        self.model, self.augment = model, augment
        self.lr, self.weight_decay, self.optimizer_name = lr, weight_decay, optimizer
        self.total_steps, self.warmup = total_steps, warmup
        self.frozen = [getattr(model, name) for name in frozen]
        for module in self.frozen:
            module.requires_grad_(False).eval()
        # syncs sums across processes; Lightning's distributed sampler repeats up to devices - 1 images
        self.val_word_accuracy = MeanMetric()

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self

    def on_train_start(self):
        # Lightning keeps the modes it finds: a module frozen in an earlier stage would train in eval mode
        self.train()

    def on_train_end(self):
        for module in self.frozen:
            module.requires_grad_(True)

    def training_step(self, batch, _):
        with torch.no_grad():
            views = self.augment(batch.images.float() / 255.0, batch.widths)
        loss = self.model.loss(views, batch.labels)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch.labels))
        return loss

    def validation_step(self, batch, _):
        predictions = self.model.read(batch.images)
        matches = [float(p == t) for (p, _), t in zip(predictions, batch.labels)]
        self.val_word_accuracy.update(torch.tensor(matches, device=self.device))
        self.log(self.monitor, self.val_word_accuracy, prog_bar=True, on_step=False, on_epoch=True)

    def configure_optimizers(self):
        optimizer = make_optimizer(self.model.parameters(), self.optimizer_name, self.lr, self.weight_decay)
        return {"optimizer": optimizer, "lr_scheduler": warmup_cosine(optimizer, self.total_steps, self.warmup)}
