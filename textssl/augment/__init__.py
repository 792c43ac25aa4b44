"""Batched, device-side view pipelines (views.py) and their preview (preview.py)."""

PIPELINES = ("captcha", "seqclr", "seqclr-light", "style", "none")
