"""Pure loss functions."""

from textssl.losses.contrastive import (
    contrastive_margin,
    info_nce,
    n_pair,
    negative_cosine,
    triplet,
)

__all__ = ["contrastive_margin", "info_nce", "n_pair", "negative_cosine", "triplet"]
