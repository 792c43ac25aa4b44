"""Self-training (``--protocol self-train``): a fine-tuned recognizer labels the unlabeled images it reads
with confidence, then trains on its labels plus these pseudo-labels; for a number of rounds.

Each round takes the best weights so far on validation, keeps the predictions whose confidence (the
probability of the decoded path) reaches ``--pseudo-threshold`` (with ``--pseudo-agreement``, only
those read the same on an augmented view too), writes them to ``pseudo/round-K.tsv``
(``key<TAB>text<TAB>confidence``) and trains the whole network on labels plus pseudo-labels for
``--self-train-steps`` steps (default: the budget) at ``--lr``.
"""
from __future__ import annotations

import logging

import torch

from textssl.data.dataset import LmdbTextDataset, make_loader
from textssl.train.options import FinetuneConfig

log = logging.getLogger("textssl")


@torch.inference_mode()
def pseudo_label(model, unlabeled: LmdbTextDataset, *, threshold: float, augment=None, workers: int = 2) -> tuple[list[int], list[str], list[float]]:
    """(indices into ``unlabeled``, texts, confidences) of the confident predictions; with ``augment``,
    only those that an augmented view of the image reads the same."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    indices, texts, confidences, seen = [], [], [], 0
    for batch in make_loader(unlabeled, 256, shuffle=False, workers=workers):
        if batch is None:
            continue
        images = batch.images.to(device)
        read = model.read(images)
        if augment is not None:
            views = (augment(images.float() / 255.0, batch.widths.to(device)) * 255.0).round().to(torch.uint8)
            again = [text for text, _ in model.read(views)]
        for k, (text, confidence) in enumerate(read):
            if (text and confidence >= threshold and not model.misfit(text)
                    and (augment is None or again[k] == text)):
                indices.append(seen + k)
                texts.append(text)
                confidences.append(confidence)
        seen += len(read)
    model.train(was_training)
    return indices, texts, confidences


def _accuracy(unlabeled: LmdbTextDataset, indices: list[int], texts: list[str]) -> float | None:
    """Word accuracy of pseudo-labels against labels the 'unlabeled' LMDBs hold (synthetic data), or None."""
    if not indices or not all(reader.has_labels for reader in unlabeled.readers):
        return None
    truth = [unlabeled.readers[unlabeled.sources[i]].label(int(unlabeled.samples[i])) for i in indices]
    return sum(t == p for t, p in zip(truth, texts)) / len(indices)


def self_train(cfg: FinetuneConfig, run, train_set: LmdbTextDataset, steps: int) -> list[dict]:
    """The rounds of self-training on ``run`` (a FinetuneRun holding the --init recognizer); their records."""
    unlabeled = LmdbTextDataset(cfg.unlabeled, train_set.spec, allow_skipped=cfg.allow_skipped)
    start = run.validate("self-train-start")
    log.info("self-training from validation word accuracy %.4f, %d unlabeled images", start, len(unlabeled))
    (run.out / "pseudo").mkdir(exist_ok=True)
    rounds = []
    for k in range(1, cfg.self_train_rounds + 1):
        run.load_best()
        indices, texts, confidences = pseudo_label(
            run.model, unlabeled, threshold=cfg.pseudo_threshold,
            augment=run.augment if cfg.pseudo_agreement else None, workers=cfg.workers)
        lines = (f"{unlabeled.key(i)}\t{t}\t{c:.4f}\n" for i, t, c in zip(indices, texts, confidences))
        (run.out / "pseudo" / f"round-{k}.tsv").write_text("".join(lines), encoding="utf-8")
        record = {"round": k, "unlabeled": len(unlabeled), "pseudo_labels": len(indices),
                  "pseudo_label_accuracy": _accuracy(unlabeled, indices, texts),
                  "val_word_accuracy_before": run.best.best}
        log.info("round %d: %d pseudo-labels of %d unlabeled images", k, len(indices), len(unlabeled))
        if indices:
            combined = train_set.joined(unlabeled.relabeled(indices, texts))
            loader = make_loader(combined, cfg.batch_size, shuffle=True, drop_last=True, workers=cfg.workers)
            run.stage(f"self-train-{k}", cfg.self_train_steps or steps, cfg.lr, (), loader)
        record["val_word_accuracy"] = run.best.best
        rounds.append(record)
    return rounds
