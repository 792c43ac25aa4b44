"""Options shared by pretraining and fine-tuning; each command's config adds its own."""
from __future__ import annotations

from dataclasses import dataclass

from textssl.augment.views import PIPELINES
from textssl.config import api_only, at_least, choice, fraction, multiple_of, within
from textssl.models.crnn import SIZES
from textssl.train.schedule import OPTIMIZERS

PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true")


@dataclass(kw_only=True)
class TrainOptions:
    epochs: float = at_least(10, 0.01)
    max_steps: int | None = at_least(None, 1)
    batch_size: int = at_least(64, 1)
    optimizer: str = choice("adamw", OPTIMIZERS)
    lr: float = at_least(1e-3, 0.0)
    weight_decay: float = at_least(1e-4, 0.0)
    warmup: float = fraction(0.05)
    augment: str = choice("captcha", PIPELINES)
    strength: float = within(1.0, 0.0, 2.0)
    model: str = choice("small", SIZES)
    shortcut: bool = True
    height: int = multiple_of(32, 8)
    width: int = at_least(128, 8)
    channels: int = choice(1, (1, 3))
    seed: int = within(0, -2**63, 2**64 - 1)  # torch.manual_seed's range
    precision: str = choice("32-true", PRECISIONS)
    devices: str = "1"
    workers: int = at_least(2, 0)
    progress: bool = True
    extra_callbacks: list = api_only()  # Lightning callbacks

    def saved(self) -> dict:
        """The options worth writing to a run's config.json."""
        return {k: v for k, v in vars(self).items() if k not in ("progress", "extra_callbacks", "resume")}
