"""Evaluate a fine-tuned run on a labeled LMDB."""
from __future__ import annotations

import time
from pathlib import Path

from textssl.api import TextRecognizer
from textssl.data.dataset import LmdbTextDataset, make_loader
from textssl.errors import UserError
from textssl.eval.metrics import text_metrics
from textssl.run_dir import write_json


def evaluate_run(run: str | Path, data: str | list[str], *, batch_size: int = 64, json_path: str | None = None,
                 workers: int = 2, allow_skipped: bool = False) -> dict:
    """Metrics of the run on ``data``; images_per_second counts model time on decoded images.

    Rows that cannot be scored (empty or out-of-charset label, undecodable image) are left out with a
    warning and counted in ``skipped_samples``; a set of which fewer than half of the rows can be scored
    is refused unless ``allow_skipped``.
    """
    if json_path and not (str(json_path).endswith(".json") and Path(json_path).parent.is_dir()
                          and not Path(json_path).is_dir()):
        raise UserError(f"--json {json_path}: needs a file name ending in .json in an existing folder")
    reader = TextRecognizer.load(run)
    dataset = LmdbTextDataset(data, reader.spec, charset=reader.charset, labeled=True, allow_skipped=allow_skipped)
    metrics = evaluate_samples(reader, dataset, batch_size=batch_size, workers=workers)
    if json_path:
        write_json(Path(json_path), metrics)
    return metrics


def evaluate_samples(reader: TextRecognizer, dataset: LmdbTextDataset, *, batch_size: int = 64,
                     workers: int = 2) -> dict:
    """Metrics of ``reader`` on the labeled ``dataset`` (see evaluate_run)."""
    loader = make_loader(dataset, batch_size, shuffle=False, workers=workers)
    predictions, targets, seconds = [], [], 0.0
    for batch in loader:
        start = time.perf_counter()
        predictions += [text for text, _ in reader.predict_batch(batch.images)]
        seconds += time.perf_counter() - start
        targets += batch.labels
    metrics = text_metrics(predictions, targets)
    metrics["images_per_second"] = len(targets) / max(seconds, 1e-9)
    metrics["skipped_samples"] = sum(len(r) for r in dataset.readers) - len(targets)
    return metrics
