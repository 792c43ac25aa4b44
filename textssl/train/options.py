"""The options of pretraining and fine-tuning as dataclasses: the command line, ``--config`` files and
study presets are read into them (textssl.config). Nothing here imports torch, so that ``--help`` and
a bad option answer at once (a method's options import its module, and so torch, when they are read)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from textssl.augment import PIPELINES
from textssl.errors import UserError
from textssl.config import api_only, config_from_dict, at_least, choice, fraction, multiple_of, within
from textssl.methods import METHODS, method_class, method_options
from textssl.models import DECODERS, ENCODER_SIZES, ENCODERS, FEATURES, RECTIFIERS, SEQUENCES

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
    method_options: dict = dataclasses.field(default_factory=dict)  # the method's own (its Options dataclass)
    features: str = choice("visual", FEATURES)
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


OWN_OPTIONS = {f.name for f in dataclasses.fields(PretrainConfig)}
FORMER_OPTIONS = ("mapping", "windows", "head", "proj_dim", "hidden_dim", "temperature")  # config.json before 2026-12-04


def with_method_options(values: dict, source: str, method_overrides: dict | None = None, *,
                        saved: bool = False, overrides: dict | None = None) -> PretrainConfig:
    """The config from ``values`` (read from ``source``: a --config file, a study's sections or a run's
    config.json) and command-line ``overrides``. Keys that are not pretraining options, and
    ``method_options``, are the method's options, checked against its Options (textssl.methods.base);
    ``method_overrides`` are those given on the command line. A ``saved`` config.json of a run written
    before the methods had their own options keeps only the former options that its method has."""
    values = dict(values)
    own = values.pop("method_options", None) or {}
    if not isinstance(own, dict):
        raise UserError(f"{source}: 'method_options' must be a mapping of option: value, got {own!r}")
    own = dict(own)
    for key in [k for k in values if k not in OWN_OPTIONS]:
        own[key] = values.pop(key)
    cfg = config_from_dict(PretrainConfig, values, source, overrides=overrides)
    if saved:
        fields = {f.name for f in dataclasses.fields(method_class(cfg.method).Options)}
        own = {k: v for k, v in own.items() if not (k in FORMER_OPTIONS and (k not in fields or v is None))}
    checked = method_options(cfg.method, own, source, overrides=method_overrides)
    return dataclasses.replace(cfg, method_options=checked)
