"""Encoders: images [B, C, H, W] in [0, 1] -> feature sequence [B, T, D].

Each has ``dim`` (D), ``width_stride`` (pixels of width per frame), ``frames(width)`` (T) and
``check_size(height, width)``; one with patch tokens (``vit``) also has ``tokens(images, mask=None)
-> [B, N, D]`` and ``grid(height, width)``. The names and sizes are in textssl.models.
"""
