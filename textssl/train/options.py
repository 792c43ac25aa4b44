"""The options of pretraining and fine-tuning as dataclasses: the command line, ``--config`` files and
study presets are read into them (textssl.config). Nothing here imports torch, so that ``--help`` and
a bad option answer at once."""
from __future__ import annotations

from dataclasses import dataclass

from textssl.augment import PIPELINES
from textssl.config import api_only, at_least, choice, fraction, multiple_of, within
from textssl.methods import MAPPINGS, METHODS
from textssl.models import DECODERS, ENCODER_SIZES, ENCODERS, FEATURES, HEADS, RECTIFIERS, SEQUENCES

OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true")
PROTOCOLS = ("full", "frozen", "two-stage", "self-train")
FINETUNE_STEPS = 2000  # the fine-tuning budget when neither --max-steps nor --epochs is given


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
    encoder: str = choice("cnn", ENCODERS)
    encoder_size: str | None = choice(None, tuple(dict.fromkeys(s for sizes in ENCODER_SIZES.values() for s in sizes)))
    sequence: str = choice("bilstm", SEQUENCES)
    shortcut: bool = True  # bilstm: the linear shortcut around it
    height: int = multiple_of(32, 4)
    width: int = at_least(128, 8)
    channels: int = choice(1, (1, 3))
    seed: int = within(0, -2**63, 2**64 - 1)  # torch.manual_seed's range
    precision: str = choice("32-true", PRECISIONS)
    devices: str = "1"
    workers: int = at_least(2, 0)
    allow_skipped: bool = False
    progress: bool = True
    extra_callbacks: list = api_only()  # Lightning callbacks

    def saved(self) -> dict:
        """The options worth writing to a run's config.json."""
        return {k: v for k, v in vars(self).items() if k not in ("progress", "extra_callbacks", "resume")}


@dataclass(kw_only=True)
class PretrainConfig(TrainOptions):
    data: list[str]
    out: str
    method: str = choice("seqclr", METHODS)
    mapping: str | None = choice(None, MAPPINGS)
    windows: int = at_least(5, 1)
    head: str = choice("mlp", HEADS)
    features: str = choice("visual", FEATURES)
    proj_dim: int = at_least(128, 1)
    hidden_dim: int = at_least(256, 1)
    temperature: float = at_least(0.1, 1e-3)
    batch_size: int = at_least(128, 2)
    augment: str = choice("seqclr", PIPELINES)
    checkpoint_every: int = at_least(100, 1)
    resume: bool = False


@dataclass(kw_only=True)
class FinetuneConfig(TrainOptions):
    train: list[str]
    val: str
    out: str
    init: str | None = None
    protocol: str = choice("full", PROTOCOLS)
    num_labels: int | None = at_least(None, 1)
    epochs: float | None = at_least(None, 0.01)  # neither this nor max_steps: FINETUNE_STEPS
    head_steps: int | None = at_least(None, 1)  # two-stage: steps of the head-only stage (default: a fifth)
    lr_whole: float = at_least(1e-3, 0.0)  # two-stage: learning rate of the whole-network stage
    charset: str | None = None  # None: the training LMDB's, else the characters of its labels
    val_every: int | None = at_least(None, 1)
    early_stopping: int | None = at_least(None, 1)
    clip: float = at_least(5.0, 0.0)
    # None: the --init run's, or without --init the pretraining defaults (cnn, its first size, 32, 128, 1)
    encoder: str | None = choice(None, ENCODERS)
    sequence: str | None = choice(None, SEQUENCES)  # None: a pretrained one's, else bilstm
    height: int | None = multiple_of(None, 4)
    width: int | None = at_least(None, 8)
    channels: int | None = choice(None, (1, 3))
    decoder: str | None = choice(None, DECODERS)  # None: a recognizer --init's, else ctc
    max_length: int = at_least(25, 1)  # attention / transformer decoders: the longest text
    rectify: str | None = choice(None, RECTIFIERS)
    # self-training: label the unlabeled set with the confident predictions, train on labels + pseudo-labels
    unlabeled: list[str] | None = None
    self_train_rounds: int = at_least(1, 1)
    self_train_steps: int | None = at_least(None, 1)  # steps of each round (default: the budget)
    pseudo_threshold: float = fraction(0.9)
    pseudo_agreement: bool = False
