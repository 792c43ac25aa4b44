"""The study's headline figures: word-error ratios and the supervised learning rates, from hand-built rows."""
import pytest

from textssl.study.report import markdown_table, summarise, word_error_ratios


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
    assert ratios[100] == (pytest.approx((1 - 0.6) / (1 - 0.2)), [pytest.approx(0.5)])  # seqclr: not moco
    assert ratios[400][0] == pytest.approx(0.08 / 0.2)  # or simclr; tesseract is no SSL method


def test_table_states_ratios_and_the_supervised_learning_rates():
    text = markdown_table({"name": "hand"}, ROWS, ["a note"])
    assert "| seqclr | 100 | 0.6000 |" in text
    assert "100 labels: 0.50x, 400 labels: 0.40x" in text
    assert ("Supervised learning rate, the best on validation of 0.003, 0.01: "
            "100 labels: 0.01, 400 labels: 0.003, 800 labels: 0.003") in text
    assert text.index("0.50x") < text.index("Supervised learning rate") < text.index("a note")
    own = markdown_table({"name": "hand", "supervised": {"lrs": [0.003, 0.01], "warmup": 0.2}}, ROWS)
    assert "400 labels: 0.003, 800 labels: 0.003; its own warmup 0.2\n" in own


SEEDS = [  # two seeds at 100 labels; supervised stays on the plateau with seed 1
    row("seqclr", 100, 0.6, val_word_accuracy=0.6, seed=0), row("simclr", 100, 0.9, val_word_accuracy=0.1, seed=0),
    row("supervised", 100, 0.2, lr=0.01, lrs_tried=[0.003, 0.01], val_word_accuracy=0.2, seed=0),
    row("seqclr", 100, 0.5, val_word_accuracy=0.4, seed=1), row("simclr", 100, 0.9, val_word_accuracy=0.1, seed=1),
    row("supervised", 100, 0.0, lr=0.003, lrs_tried=[0.003, 0.01], val_word_accuracy=0.0, seed=1),
    row("tesseract", 0, 0.3),
]


def test_seeds_are_averaged_and_paired_per_seed():
    summary = {(r["method"], r["labels"]): r for r in summarise(SEEDS)}
    seqclr = summary["seqclr", 100]
    assert seqclr["seeds"] == [0, 1] and seqclr["per_seed"] == [0.6, 0.5]
    assert seqclr["word_accuracy"] == pytest.approx(0.55) and seqclr["val_word_accuracy"] == pytest.approx(0.5)
    assert seqclr["word_accuracy_sd"] == pytest.approx(0.05 * 2 ** 0.5)  # sample sd of 0.6 and 0.5
    assert summary["tesseract", 0]["word_accuracy_sd"] == 0.0
    mean, per_seed = word_error_ratios(SEEDS)[100]  # seqclr, best on mean validation; simclr is best on test
    assert mean == pytest.approx(0.45 / 0.9) and per_seed == [pytest.approx(0.4 / 0.8), pytest.approx(0.5 / 1.0)]


def test_table_of_several_seeds_shows_the_spread_and_the_cells_that_read_nothing():
    text = markdown_table({"name": "hand"}, SEEDS)
    assert "Means over seeds 0, 1," in text
    assert "| seqclr | 100 | 0.5500 | 0.0707 | 0.6000 / 0.5000 | 0.9000 |" in text
    assert "| tesseract | 0 | 0.3000 | | | 0.9000 |" in text
    assert "100 labels: 0.50x (per seed 0.50x / 0.50x)" in text
    assert "the best on validation of 0.003, 0.01: 100 labels: 0.01 / 0.003" in text
    assert "Read no word of the test set" in text and "supervised at 100 labels (seed 1)" in text
    assert "Means over" not in markdown_table({"name": "one seed"}, ROWS)
