"""The SSL method contract and the small base of the instance-level methods.

A method is one file that defines an ``SSLMethod`` subclass and its options dataclass, plus one line
in ``textssl.methods.METHODS``. What the pretraining loop (textssl.train.pretrain) does for it:

- **Options.** ``Options`` is a dataclass whose fields use textssl.config's checks (``choice``,
  ``at_least``, ...). Its fields are read from ``--name value`` on the command line
  (``textssl pretrain --method M --help`` lists them), from top-level keys of a ``--config`` file and
  from a study's ``method_options.M``; a bad value or an unknown name is one ``error:`` line. They are
  saved in the run's config.json under ``pretrain.method_options`` and the method is built as
  ``Method(backbone, options)``. Neither ``PretrainConfig`` nor ``cli.py`` changes for a new method.
- **Inputs.** ``views`` names the view pipeline of each view it compares (``"augment"``: the run's
  ``--augment``; any other name: that pipeline of textssl.augment); ``wants_raw`` asks for the
  images before augmentation too (a reconstruction target). Each call gets a ``MethodBatch``:
  the float views [B, C, H, W] in [0, 1], each image's content width in pixels and the raw images
  or None. A method that masks (MAE, SimMIM) draws its masks itself, on the device, from the widths,
  so that padding is never a target. A method whose task changes the images before they are
  augmented (rotation turns them, so that the augmentation cannot tell turned from upright) defines
  ``before_views(raw, widths) -> (images, widths, task)``; the views are made from those images and
  ``task`` (its targets) comes in ``MethodBatch.task``.
  ``shown_views(batch)`` names and returns what the method looks at, for ``textssl data preview
  --method M`` (a method that derives views itself, as SwAV's crops, shows them too).
- **Loss.** ``forward(batch) -> (loss, embeddings)``: a scalar loss and an [N, d] tensor whose
  spread is logged as the collapse indicator.
  Scalars a method puts in ``self.logged`` (a dict) during the step are logged beside the loss (a
  pretext task's ``task_accuracy``, a generative method's ``reconstruction``).
- **Schedules.** ``after_step(step, total)`` runs after every optimizer step (``step`` counts from
  1 to ``total``): momentum encoders update here.
- **Optimizers.** ``parameter_groups()`` maps optimizer names to parameter groups (dicts as torch's
  optimizers take them; ``lr_scale`` multiplies the run's ``--lr``). One optimizer (``"main"``) by
  default. With several, ``losses(batch)`` yields ``(optimizer name, loss)`` pairs; each loss is
  backpropagated and its optimizer stepped before the next is computed (an adversarial
  discriminator, then its generator); the last pair's loss is the one logged, and the method sets
  ``self.embeddings`` [N, d] for the collapse indicator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple

import torch
from torch import nn

from textssl.config import at_least, choice
from textssl.methods import MAPPINGS
from textssl.methods.mapping import map_instances
from textssl.models import HEADS
from textssl.models.recognizer import PretrainBackbone


class MethodBatch(NamedTuple):
    views: list[torch.Tensor]   # float [B, C, H, W] in [0, 1], one per entry of the method's ``views``
    widths: torch.Tensor        # int [B]: each image's content width in pixels
    raw: torch.Tensor | None    # float [B, C, H, W] in [0, 1] before augmentation, when ``wants_raw``
    task: object = None         # what ``before_views`` returned beside the images (a pretext task's targets)


class ViewMaker(nn.Module):
    """A method's views of a batch: its ``views`` made by their pipelines, on the batch's device."""

    def __init__(self, method: SSLMethod, augment: str, strength: float):
        super().__init__()
        from textssl.augment.views import build_view_augment

        self.names = [augment if name == "augment" else name for name in method.views]
        self.pipelines = nn.ModuleDict({name: build_view_augment(name, strength) for name in dict.fromkeys(self.names)})
        self.wants_raw = method.wants_raw
        self.before_views = getattr(method, "before_views", None)

    @torch.no_grad()
    def forward(self, images_uint8: torch.Tensor, widths: torch.Tensor) -> MethodBatch:
        raw = images_uint8.float().div_(255)
        source, task = raw, None
        if self.before_views is not None:
            source, widths, task = self.before_views(raw, widths)
        views = [self.pipelines[name](source, widths) for name in self.names]
        return MethodBatch(views, widths, raw if self.wants_raw else None, task)


@dataclass(kw_only=True)
class MethodOptions:
    """A method without options."""


class SSLMethod(nn.Module):
    Options = MethodOptions
    views: tuple[str, ...] = ("augment", "augment")
    wants_raw = False

    def __init__(self, backbone: PretrainBackbone, options: MethodOptions | None = None):
        super().__init__()
        self.backbone, self.options = backbone, options or self.Options()

    def forward(self, batch: MethodBatch) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def check_frames(self, frames: int, width: int) -> str | None:
        """Why the encoder's ``frames`` at image ``width`` cannot serve this method, or None."""
        return None

    def shown_views(self, batch: MethodBatch) -> list[tuple[str, torch.Tensor]]:
        """(title, float images [B, C, H, W']) of every input the method compares, for a preview."""
        return [(f"view {i + 1}", v) for i, v in enumerate(batch.views)]

    def after_step(self, step: int, total: int) -> None:
        """Called after optimizer step ``step`` of ``total``."""

    def parameter_groups(self) -> dict[str, list[dict]]:
        """Optimizer name -> parameter groups; by default one optimizer over every trainable parameter
        (a momentum encoder's are not)."""
        return {"main": [{"params": [p for p in self.parameters() if p.requires_grad]}]}

    def losses(self, batch: MethodBatch) -> Iterator[tuple[str, torch.Tensor]]:
        """With several optimizers: (optimizer name, loss) in the order they step."""
        raise NotImplementedError(f"{type(self).__name__} names several optimizers but yields no losses")


@dataclass(kw_only=True)
class InstanceOptions(MethodOptions):
    """The options of methods that compare instances of the feature sequence (docs/DESIGN.md)."""
    mapping: str = choice("all", MAPPINGS, "instance mapping: all, frame or window")
    windows: int = at_least(5, 1, "instances per image with --mapping window")
    head: str = choice("mlp", HEADS, "projection head: mlp or linear (per instance), bilstm (over the frames)")
    proj_dim: int = at_least(128, 1, "projection size")
    hidden_dim: int = at_least(256, 1, "hidden size of the projection head")


class InstanceMethod(SSLMethod):
    """A method over instances: the backbone, an instance mapping, a projection head, a loss over two views."""
    Options = InstanceOptions

    def check_frames(self, frames: int, width: int) -> str | None:
        """Why ``frames`` (the encoder's at ``width``) cannot hold this method's instances, or None."""
        o = self.options
        if o.mapping == "window" and o.windows > frames:
            return (f"--windows {o.windows}: more than the encoder's {frames} frames at width {width}; "
                    f"give at most {frames}")
        return None

    def projected_instances(self, images: torch.Tensor, projector: nn.Module, widths: torch.Tensor | None = None,
                            backbone: nn.Module | None = None) -> torch.Tensor:
        """float images [B, C, H, W] -> projected instances [N, d], instance-major within each image;
        N = B * T', fewer with the frame mapping where ``widths`` (each image's content width in
        pixels [B], or None) leave padding frames out.

        A sequence head (BiLSTM) runs over the backbone's frames before the mapping; a per-instance
        head (MLP) after it. ``backbone``: another than the method's (a momentum encoder).
        """
        seq = (backbone or self.backbone)(images)
        lengths = None if widths is None else torch.div(widths + self.backbone.width_stride - 1,
                                                        self.backbone.width_stride, rounding_mode="floor")
        over_sequence = getattr(projector, "over_sequence", False)
        instances, mask = map_instances(projector(seq) if over_sequence else seq, self.options.mapping,
                                        self.options.windows, lengths)
        instances = instances.flatten(0, 1) if mask is None else instances[mask]
        return instances if over_sequence else projector(instances)
