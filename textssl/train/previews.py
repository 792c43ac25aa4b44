"""What a pretraining run shows of its method at every checkpoint (the last one included), on a few fixed
images with fixed views and masks: RUN/reconstructions.png for a method that reconstructs pixels (its
input and its reconstruction), RUN/pretext.png for a pretext classification task (each input with its
target and the prediction)."""
from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from textssl.run_dir import replaced_atomically

RECONSTRUCTIONS = "reconstructions.png"
PRETEXT = "pretext.png"


def method_preview(method, batch, run: Path) -> L.Callback | None:
    """The preview callback of ``method`` on ``batch`` (a data Batch), or None for a method that has none."""
    if hasattr(method, "reconstruction_views"):
        return MethodPreview(batch, run / RECONSTRUCTIONS, "reconstruction_views")
    if hasattr(method, "examples"):
        return MethodPreview(batch, run / PRETEXT, "examples")
    return None


class MethodPreview(L.Callback):
    def __init__(self, batch, path: Path, kind: str):
        self.batch, self.path, self.kind = batch, path, kind

    def on_save_checkpoint(self, trainer, task, checkpoint):
        if trainer.is_global_zero:
            self.write(task)

    @torch.no_grad()
    def write(self, task) -> None:
        from textssl.augment.preview import write_captioned, write_preview

        method, device = task.method, task.device
        training = method.training
        method.eval()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # training's draws untouched
            torch.manual_seed(0)
            inputs = task.make_views(self.batch.images.to(device), self.batch.widths.to(device))
            shown = getattr(method, self.kind)(inputs, torch.Generator(device).manual_seed(0))
        method.train(training)
        with replaced_atomically(self.path) as tmp:
            if self.kind == "examples":
                write_captioned(shown, str(tmp))
            else:
                write_preview(self.batch.images, str(tmp), views=shown)
