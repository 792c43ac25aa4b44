"""Self-training: a fine-tuned recognizer pseudo-labels the unlabeled images it reads with confidence and
trains on labels plus pseudo-labels; the pseudo-labels and their counts per round stay in the run."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from textssl.cli import main
from textssl.data.charset import Charset
from textssl.data.dataset import ImageSpec, LmdbTextDataset
from textssl.models.assembly import assemble
from textssl.models.recognizer import Recognizer
from textssl.train.self_train import pseudo_label


@pytest.fixture(scope="module")
def reads_a(tiny_data, tmp_path_factory):
    """A recognizer run whose every frame says 'A' with near certainty: every image reads "A"."""
    run = tmp_path_factory.mktemp("st") / "base"
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--max-steps", "1", "--batch-size", "32", "--no-progress"]) == 0
    weights = load_file(str(run / "model.safetensors"))
    weights["decoder.head.weight"].zero_()
    weights["decoder.head.bias"].fill_(0.0)
    weights["decoder.head.bias"][1 + Charset.from_spec("captcha").chars.index("A")] = 30.0  # class 0: the blank
    save_file(weights, str(run / "model.safetensors"))
    return run


def test_pseudo_labels_keep_the_confident_readings(tiny_data, reads_a):
    charset = Charset.from_spec("captcha")
    model = Recognizer(assemble(), charset)
    model.load_state_dict(load_file(str(reads_a / "model.safetensors")))
    unlabeled = LmdbTextDataset(tiny_data["unlabeled"], ImageSpec())
    indices, texts, confidences = pseudo_label(model, unlabeled, threshold=0.9, workers=0)
    assert indices == list(range(256)) and set(texts) == {"A"} and min(confidences) > 0.99
    model.misfit = lambda text: "too long"  # a reading the decoder could not emit is no pseudo-label
    assert pseudo_label(model, unlabeled, threshold=0.9, workers=0)[0] == []
    del model.misfit
    with torch.no_grad():
        model.decoder.head.bias.zero_()  # now no class stands out: no reading is confident
    assert pseudo_label(model, unlabeled, threshold=0.5, workers=0)[0] == []


def test_self_train_protocol_writes_the_pseudo_labels_and_trains_on_them(tiny_data, reads_a, tmp_path, capsys):
    run = tmp_path / "st"
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--init", str(reads_a), "--protocol", "self-train", "--unlabeled", tiny_data["unlabeled"],
                 "--self-train-rounds", "2", "--self-train-steps", "2", "--max-steps", "5", "--batch-size", "32",
                 "--pseudo-agreement", "--no-progress"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    rounds = metrics["self_training"]
    assert [r["round"] for r in rounds] == [1, 2] and rounds[0]["unlabeled"] == 256
    assert rounds[0]["pseudo_labels"] == 256 and rounds[0]["pseudo_label_accuracy"] is None  # no labels to score
    lines = (run / "pseudo" / "round-1.tsv").read_text().splitlines()
    assert len(lines) == 256 and lines[0].endswith(":image-000000001\tA\t1.0000")
    assert metrics["stages"] == [] and metrics["trained_steps"] == 2 + 2 * (rounds[1]["pseudo_labels"] > 0)
    assert (run / "charset.txt").read_text() == (reads_a / "charset.txt").read_text()


@pytest.mark.parametrize("argv, words", [
    (["--protocol", "self-train", "--unlabeled", "U"], ["--protocol self-train needs --init"]),
    (["--protocol", "self-train", "--init", "BASE"], ["--unlabeled LMDB goes with --protocol self-train"]),
    (["--unlabeled", "U"], ["--unlabeled LMDB goes with --protocol self-train"]),
    (["--protocol", "two-stage", "--init", "BASE"], ["is a fine-tuned recognizer", "--protocol two-stage"]),
    (["--protocol", "self-train", "--init", "BASE", "--unlabeled", "U", "--charset", "digits"],
     ["--charset digits", "reads its own charset"]),
])
def test_self_train_needs_a_recognizer_and_unlabeled_data(tiny_data, reads_a, tmp_path, capsys, argv, words):
    names = {"U": tiny_data["unlabeled"], "BASE": str(reads_a)}
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(tmp_path / "x"),
                 "--max-steps", "1", "--no-progress", *[names.get(a, a) for a in argv]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
