"""Recognizer parts. The names that options choose from are here, so that the command line can
check them without importing torch.

A recognizer is an assembly (textssl.models.assembly): an optional rectifier, an encoder (images
[B, C, H, W] -> feature sequence [B, T, D]), a sequence model ([B, T, D] -> [B, T, D']) and a
decoder that owns its tokens, loss, decoding and length limit.
"""

ENCODER_SIZES = {  # name -> size -> the encoder's options; the first size is the default
    "cnn": {"small": {"channels": [16, 32, 64, 128], "dim": 128},
            "large": {"channels": [32, 64, 128, 256], "dim": 256}},
    "resnet": {"small": {"channels": [32, 64, 128, 256], "blocks": [1, 2, 2, 1], "dim": 256},
               "base": {"channels": [64, 128, 256, 512], "blocks": [2, 3, 4, 2], "dim": 512}},
    "vit": {"micro": {"depth": 6, "dim": 192, "heads": 3},
            "tiny": {"depth": 12, "dim": 192, "heads": 3},
            "small": {"depth": 12, "dim": 384, "heads": 6}},
}
ENCODERS = tuple(ENCODER_SIZES)
SEQUENCES = ("bilstm", "none", "transformer")
DECODERS = ("ctc", "attention", "transformer")
RECTIFIERS = ("tps",)
FEATURES = ("visual", "contextual")
HEADS = ("mlp", "linear", "bilstm")
