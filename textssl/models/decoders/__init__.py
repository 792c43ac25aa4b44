"""Decoders: feature sequence [B, T, D] -> logits, each owning its tokens, loss, decoding and length limit.

The contract (``ctc``, ``attention``, ``transformer``): ``targets(labels, device)`` turns texts into
what ``loss`` takes; ``forward(features, targets=None)`` gives logits (with targets: teacher forcing
where the decoder is autoregressive; without: its greedy reading); ``loss(logits, targets)``;
``decode(logits) -> [(text, confidence)]``; ``misfit(text, frames)``: why the decoder cannot emit
``text`` from ``frames`` features ("" when it can).
"""
