"""Lightning module that trains a CTC recognizer, with parts of it optionally frozen."""
from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

from textssl.data.charset import BLANK, Charset
from textssl.models.crnn import Recognizer
from textssl.models.ctc import greedy_decode
from textssl.train.schedule import make_optimizer, warmup_cosine


def ctc_loss(logits: torch.Tensor, labels: list[str], charset: Charset) -> torch.Tensor:
    """logits [B, T, K]; labels: B strings in the charset. Mean CTC loss per target character."""
    ids = [charset.encode(text) for text in labels]
    targets = torch.tensor([i for row in ids for i in row], dtype=torch.long, device=logits.device)
    target_lengths = torch.tensor([len(row) for row in ids], dtype=torch.long, device=logits.device)
    input_lengths = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.long, device=logits.device)
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=BLANK, zero_infinity=True)


def decode_texts(model: Recognizer, images: torch.Tensor, charset: Charset) -> list[tuple[str, float]]:
    """uint8 images [B, C, H, W] -> (text, confidence) per image."""
    logits = model(images.float() / 255.0)
    return [(charset.decode(ids), conf) for ids, conf in greedy_decode(logits)]


class RecognizerTask(L.LightningModule):
    """CTC training; modules named in ``frozen`` get no gradient and keep their BatchNorm statistics
    until the training ends."""

    def __init__(self, model: Recognizer, charset: Charset, augment: nn.Module, *, lr: float,
                 weight_decay: float, total_steps: int, warmup: float, optimizer: str = "adamw",
                 frozen: tuple[str, ...] = ()):
        super().__init__()
        self.model, self.charset, self.augment = model, charset, augment
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
        loss = ctc_loss(self.model(views), batch.labels, self.charset)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch.labels))
        return loss

    def validation_step(self, batch, _):
        predictions = decode_texts(self.model, batch.images, self.charset)
        matches = [float(p == t) for (p, _), t in zip(predictions, batch.labels)]
        self.val_word_accuracy.update(torch.tensor(matches, device=self.device))
        self.log("val_word_accuracy", self.val_word_accuracy, prog_bar=True, on_step=False, on_epoch=True)

    def configure_optimizers(self):
        optimizer = make_optimizer(self.model.parameters(), self.optimizer_name, self.lr, self.weight_decay)
        return {"optimizer": optimizer, "lr_scheduler": warmup_cosine(optimizer, self.total_steps, self.warmup)}
