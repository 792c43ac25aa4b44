"""The adversarial losses of the generative pretext methods (inpainting, SimAN), as pure functions:
the non-saturating GAN losses of Goodfellow et al. on a discriminator's logits."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-log D(real) - log(1 - D(fake)), each averaged over its logits (any shape, e.g. [B, 1, h, w] of a
    patch discriminator); D = sigmoid. log 4 when every logit is 0."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float))
    return real + fake


def generator_loss(fake_logits: Tensor) -> Tensor:
    """-log D(fake), averaged over the logits: the generator's non-saturating loss. log 2 at logit 0."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float))
