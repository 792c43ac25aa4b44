"""What the classic pretext tasks share, discriminative (rotation, patch-position, jigsaw) and generative
(colorization, autoencoder, inpainting, SimAN): cutting spans of a line, pooling a feature sequence, a
pixel decoder from the feature sequence, a patch discriminator and the two optimizers of an adversarial
method.

A discriminative task builds ``inputs`` and class ``targets`` from each augmented view
(``task``; rotation turns the images before they are augmented, ``before_views``); a classifier on the encoder's pooled features predicts them under cross-entropy, and the
task's accuracy is logged as ``task_accuracy``. A generative one maps a corrupted input to pixels with
``PixelDecoder`` and logs its pixel error as ``reconstruction``; with ``adversarial`` > 0 a
``PatchDiscriminator`` is trained in turn with it (optimizer ``discriminator``, then ``main``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from textssl.config import at_least
from textssl.augment.masks import valid_columns
from textssl.losses import discriminator_loss, generator_loss, weighted_pixel_loss
from textssl.methods.base import MethodOptions, SSLMethod


def pooled(seq: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Feature sequence [B, T, D] -> the mean of each image's first ``lengths`` [B] frames (all: None) [B, D]."""
    if lengths is None:
        return seq.mean(1)
    keep = (torch.arange(seq.shape[1], device=seq.device) < lengths.unsqueeze(1)).to(seq.dtype).unsqueeze(-1)
    return (seq * keep).sum(1) / keep.sum(1)


def pooled_features(backbone, images: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
    """Images [B, C, H, W] -> the backbone's feature sequence averaged over each image's content frames
    (all frames where ``widths`` is None) [B, D]."""
    return pool_content(backbone(images), widths, backbone.width_stride)


def pool_content(seq: torch.Tensor, widths: torch.Tensor | None, stride: int) -> torch.Tensor:
    """A feature sequence [B, T, D] of images ``widths`` pixels wide [B] (None: all content) averaged over
    its content frames [B, D]."""
    return pooled(seq, None if widths is None else valid_columns(widths, stride, seq.shape[1]))


def cut(images: torch.Tensor, starts: torch.Tensor, width: int) -> torch.Tensor:
    """Columns ``starts[b]`` .. ``starts[b] + width`` of each image [B, C, H, W] -> [B, C, H, width]
    (starts: long [B], each within 0 .. W - width)."""
    b, c, h, _ = images.shape
    columns = starts.view(b, 1, 1, 1) + torch.arange(width, device=images.device)
    return images.gather(-1, columns.expand(b, c, h, width))


def content_weight(widths: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """[B, 1, H, W]: 1 on each image's content columns, 0 on its padding (``shape``: the images')."""
    b, _, h, w = shape
    return (torch.arange(w, device=widths.device) < widths.view(b, 1, 1, 1)).float().expand(b, 1, h, w)


def uniform_int(low: torch.Tensor, high: torch.Tensor, generator=None) -> torch.Tensor:
    """One integer per row uniform in [low, high] (long tensors [B], high >= low)."""
    u = torch.rand(low.shape, device=low.device, generator=generator)
    return torch.minimum(low + (u * (high - low + 1).float()).long(), high)


@dataclass(kw_only=True)
class PretextOptions(MethodOptions):
    hidden_dim: int = at_least(256, 1, "hidden size of the task's classifier")


class PretextMethod(SSLMethod):
    """A pretext classification task on one augmented view."""
    Options = PretextOptions
    views = ("augment",)

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        self.logged = {}

    def task(self, batch, generator=None) -> tuple[object, torch.Tensor]:
        """(the task's inputs, class targets long [B]) of a MethodBatch (its view: float [B, C, H, W])."""
        raise NotImplementedError

    def classify(self, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, classes], pooled features [B', D] for the collapse indicator)."""
        raise NotImplementedError

    def shown(self, inputs) -> torch.Tensor:
        """The inputs as float images [B, C, H, W'] for a preview."""
        raise NotImplementedError

    def caption(self, target: int) -> str:
        """What class ``target`` means."""
        return str(target)

    def forward(self, batch):
        inputs, targets = self.task(batch)
        logits, embeddings = self.classify(inputs)
        self.logged = {"task_accuracy": (logits.argmax(1) == targets).float().mean()}
        return F.cross_entropy(logits.float(), targets), embeddings

    @torch.no_grad()
    def accuracy(self, batch, generator=None) -> tuple[int, int]:
        """(correct, total) of the task on a MethodBatch (held-out images)."""
        inputs, targets = self.task(batch, generator)
        return int((self.classify(inputs)[0].argmax(1) == targets).sum()), len(targets)

    @torch.no_grad()
    def examples(self, batch, generator=None) -> list[tuple[torch.Tensor, str]]:
        """(input image [C, H, W'], "target ..., predicted ...") of each image of a MethodBatch, for
        RUN/pretext.png."""
        inputs, targets = self.task(batch, generator)
        predicted = self.classify(inputs)[0].argmax(1)
        return [(image, f"target {self.caption(int(t))}, predicted {self.caption(int(p))}")
                for image, t, p in zip(self.shown(inputs), targets, predicted)]

    def shown_views(self, batch):
        inputs, _ = self.task(batch)
        return [("view", batch.views[0]), ("task input", self.shown(inputs))]


class PixelDecoder(nn.Module):
    """Feature sequence [B, T, D] -> images [B, C, H, W] in [0, 1]: three 1-D convolutions over the frames,
    the last giving each frame's strip of ``stride`` columns (H x stride x C pixels). Every encoder's
    frames stand for ``stride`` columns of the image, so one decoder serves the CNN, the ResNet and
    the ViT."""

    def __init__(self, dim: int, stride: int, height: int, channels: int, hidden: int = 256):
        super().__init__()
        self.stride, self.height, self.channels = stride, height, channels
        self.net = nn.Sequential(nn.Conv1d(dim, hidden, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(hidden, hidden, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(hidden, channels * height * stride, 1))

    def forward(self, seq: torch.Tensor, width: int) -> torch.Tensor:
        b, t, _ = seq.shape
        strips = self.net(seq.transpose(1, 2).float()).view(b, self.channels, self.height, self.stride, t)
        images = strips.permute(0, 1, 2, 4, 3).reshape(b, self.channels, self.height, t * self.stride).sigmoid()
        if images.shape[-1] < width:  # an encoder whose frames do not cover the last columns
            images = F.pad(images, (0, width - images.shape[-1], 0, 0), mode="replicate")
        return images[..., :width]


class PatchDiscriminator(nn.Module):
    """Images [B, C, H, W] in [0, 1] -> real/fake logits [B, 1, H / 8, W / 8] (a PatchGAN: strided
    convolutions, each logit judging a patch)."""

    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        layers, cin = [], channels
        for i, cout in enumerate((width, width * 2, width * 4)):
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1)]
            layers += [nn.GroupNorm(8, cout)] if i else []
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        self.net = nn.Sequential(*layers, nn.Conv2d(cin, 1, 3, padding=1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.float() * 2 - 1)


@dataclass(kw_only=True)
class GenerativeOptions(MethodOptions):
    decoder_dim: int = at_least(256, 8, "hidden size of the pixel decoder")


class GenerativeMethod(SSLMethod):
    """A corrupted input, encoded and decoded to pixels; ``adversarial`` (an option of the method's, 0 if
    it has none) > 0 adds a patch discriminator trained in turn with it."""
    Options = GenerativeOptions
    views = ("augment",)
    preview_titles = ("input", "reconstruction")

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        self.channels = backbone.assembly.in_channels
        self.decoder = PixelDecoder(backbone.dim, backbone.width_stride, self.image_height(), self.channels,
                                    self.options.decoder_dim)
        self.discriminator = PatchDiscriminator(self.channels) if self.adversarial else None
        self.logged = {}

    def image_height(self) -> int:
        return self.backbone.assembly.height

    @property
    def adversarial(self) -> float:
        return getattr(self.options, "adversarial", 0.0)

    def generate(self, batch, generator=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                                       torch.Tensor]:
        """(input, output, target, weight [B, 1, H, W'] of the pixels the loss counts, pooled features)."""
        raise NotImplementedError

    def pixel_loss(self, output, target, weight) -> torch.Tensor:
        return weighted_pixel_loss(output, target, weight, getattr(self.options, "loss", "mse"))

    def forward(self, batch):
        _, output, target, weight, embeddings = self.generate(batch)
        loss = self.pixel_loss(output, target, weight)
        self.logged = {"reconstruction": loss.detach()}
        return loss, embeddings

    def parameter_groups(self):
        if self.discriminator is None:
            return super().parameter_groups()
        judge = {id(p) for p in self.discriminator.parameters()}
        return {"discriminator": [{"params": list(self.discriminator.parameters())}],
                "main": [{"params": [p for p in self.parameters() if p.requires_grad and id(p) not in judge]}]}

    def losses(self, batch):
        _, output, target, weight, embeddings = self.generate(batch)
        judged = self.judged(output, batch)
        yield "discriminator", discriminator_loss(self.discriminator(target), self.discriminator(judged.detach()))
        reconstruction = self.pixel_loss(output, target, weight)
        self.embeddings = embeddings
        self.logged = {"reconstruction": reconstruction.detach()}
        yield "main", reconstruction + self.adversarial * generator_loss(self.discriminator(judged))

    def judged(self, output: torch.Tensor, batch) -> torch.Tensor:
        """What the discriminator is shown as fake: the output (inpainting: composed with its context)."""
        return output

    @torch.no_grad()
    def shown_views(self, batch):
        return [("view", batch.views[0]), (self.preview_titles[0], self.generate(batch)[0])]

    @torch.no_grad()
    def reconstruction_views(self, batch, generator=None) -> list[tuple[str, torch.Tensor]]:
        """(title, images) of the input and the reconstruction of a MethodBatch, for RUN/reconstructions.png."""
        shown, output, *_ = self.generate(batch, generator)
        return list(zip(self.preview_titles, (shown, output)))

    @torch.no_grad()
    def reconstruction_error(self, batch, generator=None) -> float:
        """The pixel loss on a MethodBatch (held-out images)."""
        _, output, target, weight, _ = self.generate(batch, generator)
        return float(self.pixel_loss(output, target, weight))
