"""Text-recognition metrics on strings. Edit distance is Levenshtein (rapidfuzz)."""
from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein


def _pairs(predictions: str | Sequence[str], targets: str | Sequence[str]) -> list[tuple[str, str]]:
    if isinstance(predictions, str):
        return [(predictions, targets)]
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    return list(zip(predictions, targets))


def word_accuracy(predictions, targets) -> float:
    pairs = _pairs(predictions, targets)
    return sum(p == t for p, t in pairs) / max(len(pairs), 1)


def cer(predictions, targets) -> float:
    """Character error rate: total edit distance / total target length."""
    pairs = _pairs(predictions, targets)
    return sum(Levenshtein.distance(p, t) for p, t in pairs) / max(sum(len(t) for _, t in pairs), 1)


def one_minus_ned(predictions, targets) -> float:
    """1 - mean over samples of ED(p, t) / max(len(p), len(t)) (0 distance when both are empty)."""
    pairs = _pairs(predictions, targets)
    return 1.0 - sum(Levenshtein.normalized_distance(p, t) for p, t in pairs) / max(len(pairs), 1)


def text_metrics(predictions: Sequence[str], targets: Sequence[str]) -> dict:
    return {
        "word_accuracy": word_accuracy(predictions, targets),
        "one_minus_ned": one_minus_ned(predictions, targets),
        "cer": cer(predictions, targets),
        "num_samples": len(targets),
    }
