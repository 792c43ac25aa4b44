"""Colorization (Zhang et al. 2016): the colours of a line from its grey version.

The encoder sees the luminance of each augmented RGB view (ITU-R 601 weights, the grey copied to the
three channels, so that the pretrained encoder takes RGB lines when fine-tuned); the pixel decoder
predicts the view's RGB, and the loss is the pixel error over the content columns. It needs colour
images: ``--channels 3``, and views without colour steps (the ``seqclr`` pipelines): the ``captcha``
pipeline shuffles and greys channels, which would make the target colours random.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.config import choice
from textssl.errors import UserError
from textssl.methods.pretext import GenerativeMethod, GenerativeOptions, content_weight, pool_content

LUMINANCE = (0.299, 0.587, 0.114)


@dataclass(kw_only=True)
class ColorizationOptions(GenerativeOptions):
    loss: str = choice("mse", ("mse", "l1"), "pixel loss on the predicted colours")


def grey(images: torch.Tensor) -> torch.Tensor:
    """RGB images [B, 3, H, W] -> their luminance copied to three channels [B, 3, H, W]."""
    weights = images.new_tensor(LUMINANCE).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True).expand_as(images)


class Colorization(GenerativeMethod):
    Options = ColorizationOptions
    preview_titles = ("grey input", "colours predicted")
    needs_rgb = True

    def __init__(self, backbone, options=None):
        if backbone.assembly.in_channels != 3:
            raise UserError("--method colorization predicts colours: it needs RGB images, give --channels 3")
        super().__init__(backbone, options)

    def generate(self, batch, generator=None):
        target = batch.views[0]
        inputs = grey(target)
        seq = self.backbone(inputs)
        return (inputs, self.decoder(seq, target.shape[-1]), target, content_weight(batch.widths, target.shape),
                pool_content(seq, batch.widths, self.backbone.width_stride))
