"""Pure loss functions."""

from textssl.losses.adversarial import discriminator_loss, generator_loss
from textssl.losses.clustering import sinkhorn, swapped_prediction
from textssl.losses.contrastive import (
    contrastive_margin,
    info_nce,
    moco_logits,
    moco_loss,
    n_pair,
    negative_cosine,
    normalized_mse,
    query_key_info_nce,
    triplet,
)
from textssl.losses.reconstruction import masked_patch_loss, normalized_patches, weighted_pixel_loss

__all__ = ["contrastive_margin", "discriminator_loss", "generator_loss", "info_nce", "masked_patch_loss",
           "moco_logits", "moco_loss", "n_pair", "negative_cosine", "normalized_mse", "normalized_patches",
           "query_key_info_nce", "sinkhorn", "swapped_prediction", "triplet", "weighted_pixel_loss"]
