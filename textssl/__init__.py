"""textssl: self-supervised pretraining for text recognition."""

__version__ = "0.1.0"
