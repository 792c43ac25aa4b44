"""Token ids for autoregressive decoders, and the part of the decoder contract they share.

Ids: 0 is the end of a text [E], 1..N the charset's characters in order, N + 1 the begin token [B]
(only ever a decoder input) and N + 2 the padding [P] (only ever in targets). A decoder predicts
``num_classes = N + 1`` classes: [E] and the characters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from textssl.data.charset import Charset
from textssl.errors import UserError


class AutoregressiveTokenizer:
    """Texts <-> id sequences ending in [E]; see the module docstring for the ids."""

    eos = 0

    def __init__(self, charset: Charset):
        self.charset = charset
        self._ids = {c: i + 1 for i, c in enumerate(charset.chars)}

    @property
    def bos(self) -> int:
        return len(self.charset) + 1

    @property
    def pad(self) -> int:
        return len(self.charset) + 2

    @property
    def num_classes(self) -> int:
        """Classes a decoder predicts: [E] and the N characters."""
        return len(self.charset) + 1

    def encode(self, labels: list[str], device: torch.device | str | None = None) -> torch.Tensor:
        """Labels -> int64 [B, Lmax + 1]: each label's ids, then [E], then [P] up to the longest label + 1."""
        rows = []
        for text in labels:
            bad = self.charset.invalid_chars(text)
            if bad:
                raise UserError(f"text {text!r} has characters outside the charset {self.charset.name!r}: {bad!r}")
            rows.append([self._ids[c] for c in text] + [self.eos])
        width = max((len(row) for row in rows), default=1)
        padded = [row + [self.pad] * (width - len(row)) for row in rows]
        return torch.tensor(padded, dtype=torch.long, device=device).reshape(len(rows), width)

    def decode_ids(self, ids: list[int]) -> str:
        """Ids -> text: the characters before the first [E]; [B] and [P] are not characters and are dropped."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos:
                break
            if 1 <= i <= len(self.charset):
                out.append(self.charset.chars[i - 1])
        return "".join(out)


class AutoregressiveDecoder(nn.Module):
    """What textssl's autoregressive decoders share: tokenizer, loss, greedy text reading, ``fits``.

    Subclasses implement ``forward(features, targets=None) -> logits [B, L, num_classes]``.
    """

    def __init__(self, charset: Charset, max_length: int):
        super().__init__()
        if max_length < 1:
            raise UserError(f"the decoder's max_length must be at least 1 (got {max_length})")
        self.tokenizer = AutoregressiveTokenizer(charset)
        self.max_length = max_length
        self.num_classes = self.tokenizer.num_classes

    def fits(self, text: str) -> bool:
        """Whether the decoder can emit ``text`` (and its [E]) within its max_length + 1 steps."""
        return len(text) <= self.max_length

    def misfit(self, text: str, frames: int) -> str:
        """Why the decoder cannot emit ``text`` ("" when it can); the encoder's frames do not limit it."""
        return "" if self.fits(text) else f"{len(text)} characters, the decoder's max_length is {self.max_length}"

    def targets(self, labels: list[str], device=None) -> torch.Tensor:
        return self.tokenizer.encode(labels, device)

    def _as_weight_dtype(self, features: torch.Tensor) -> torch.Tensor:
        return features.to(next(self.parameters()).dtype)

    def _teacher_inputs(self, targets: torch.Tensor) -> torch.Tensor:
        """Targets [B, L] -> the tokens fed at each step [B, L]: [B], then targets[:, :-1].

        A [P] fed as input is a valid embedding id and only precedes [P] targets, which the loss ignores.
        """
        if targets.shape[1] > self.max_length + 1:
            raise UserError(f"a target of {targets.shape[1] - 1} characters is longer than the decoder's "
                            f"max_length {self.max_length}")
        bos = targets.new_full((targets.shape[0], 1), self.tokenizer.bos)
        return torch.cat([bos, targets[:, :-1]], dim=1)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of logits [B, L, K] against targets [B, L], mean over the non-[P] positions."""
        if logits.shape[:2] != targets.shape:
            raise ValueError(f"logits {tuple(logits.shape)} do not match targets {tuple(targets.shape)}")
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=self.tokenizer.pad)

    def decode(self, logits: torch.Tensor) -> list[tuple[str, float]]:
        """Logits [B, L, K] -> one (text, confidence) per row, from the argmax of each step.

        The text stops before the first [E]; the confidence is the product of the chosen tokens'
        probabilities up to and including that [E] (over all L steps when a row has none).
        """
        log_probs = logits.detach().float().log_softmax(-1)
        chosen_log_prob, best = log_probs.max(-1)  # [B, L]
        is_eos = best == self.tokenizer.eos
        steps = torch.arange(best.shape[1], device=best.device)
        last_step = torch.where(is_eos.any(1), is_eos.int().argmax(1), best.shape[1] - 1)  # [B]
        counted = steps.unsqueeze(0) <= last_step.unsqueeze(1)
        confidence = chosen_log_prob.masked_fill(~counted, 0.0).sum(1).exp()
        return [(self.tokenizer.decode_ids(row), conf) for row, conf in zip(best.tolist(), confidence.tolist())]
