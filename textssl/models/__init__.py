"""Recognizer parts. The names that options choose from are here, so that the command line can
check them without importing torch."""

MODEL_SIZES = ("small", "large")
FEATURES = ("visual", "contextual")
HEADS = ("mlp", "bilstm")
