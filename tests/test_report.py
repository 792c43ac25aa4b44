"""The study's headline figures: word-error ratios and the supervised learning rates, from hand-built rows."""
import pytest

from textssl.eval.report import markdown_table, word_error_ratios


def row(method, labels, word_accuracy, **extra):
    return {"method": method, "labels": labels, "word_accuracy": word_accuracy, "one_minus_ned": 0.9, "cer": 0.1,
            "finetune_seconds": 1.0, "pretrain_seconds": 0.0, **extra}


ROWS = [
    row("simclr", 100, 0.5, val_word_accuracy=0.55), row("seqclr", 100, 0.6, val_word_accuracy=0.6),
    row("moco", 100, 0.7, val_word_accuracy=0.5),  # best on test, not on validation
    row("supervised", 100, 0.2, lr=0.01, lrs_tried=[0.003, 0.01], val_word_accuracy=0.2),
    row("seqclr", 400, 0.92, val_word_accuracy=0.9),
    row("supervised", 400, 0.8, lr=0.003, lrs_tried=[0.003, 0.01], val_word_accuracy=0.8),
    row("supervised", 800, 1.0, lr=0.003, lrs_tried=[0.003, 0.01], val_word_accuracy=1.0),
    row("seqclr", 800, 1.0, val_word_accuracy=1.0),
    row("tesseract", 0, 0.95),
]


def test_word_error_ratio_takes_the_ssl_method_best_on_validation_and_skips_perfect_baselines():
    ratios = word_error_ratios(ROWS)
    assert sorted(ratios) == [100, 400]  # at 800 labels supervised reads everything: no ratio
    assert ratios[100] == pytest.approx((1 - 0.6) / (1 - 0.2))  # seqclr: not moco or simclr; tesseract is no SSL
    assert ratios[400] == pytest.approx(0.08 / 0.2)


def test_table_states_ratios_and_the_supervised_learning_rates():
    text = markdown_table({"name": "hand"}, ROWS, ["a note"])
    assert "| seqclr | 100 | 0.6000 |" in text
    assert "100 labels: 0.50x, 400 labels: 0.40x" in text
    assert ("Supervised learning rate, the best on validation of 0.003, 0.01: "
            "100 labels: 0.01, 400 labels: 0.003, 800 labels: 0.003") in text
    assert text.index("0.50x") < text.index("Supervised learning rate") < text.index("a note")
