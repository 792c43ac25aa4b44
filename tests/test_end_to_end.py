"""A tiny pretrain -> fine-tune -> evaluate -> predict run through the command line."""
import json
import subprocess
import sys

import torch
from safetensors.torch import load_file

from textssl.cli import main
from textssl.data.lmdb_io import LmdbReader
from textssl.data.charset import Charset
from textssl.models.assembly import assemble
from textssl.models.recognizer import Recognizer


def test_pretrain_finetune_evaluate_predict(tiny_data, tmp_path, capsys, caplog):
    pre, run = tmp_path / "pre", tmp_path / "run"
    assert main(["pretrain", "--method", "seqclr", "--data", tiny_data["unlabeled"], "--out", str(pre),
                 "--max-steps", "3", "--batch-size", "32", "--no-progress"]) == 0
    assert json.loads((pre / "metrics.json").read_text())["steps"] == 3
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--init", str(pre), "--protocol", "two-stage", "--max-steps", "6", "--head-steps", "2",
                 "--lr-whole", "3e-4", "--batch-size", "32", "--no-progress"]) == 0
    assert {"config.json", "charset.txt", "model.safetensors", "metrics.json"} <= {p.name for p in run.iterdir()}
    assert not list(run.rglob("*.ckpt")) and list(pre.rglob("*.ckpt")) == [pre / "checkpoints" / "last.ckpt"]
    assert json.loads((run / "metrics.json").read_text())["val_word_accuracy"] == 0.0  # 6 steps read nothing
    last = capsys.readouterr().err.strip().splitlines()[-1]  # the last line says what to change
    assert last.startswith(f"warning: {run}: reads none of the validation set") and "--protocol full" in last
    assert json.loads((run / "metrics.json").read_text())["plateau"] is True
    stages = json.loads((run / "metrics.json").read_text())["stages"]
    assert [(s["name"], s["steps"], s["frozen"]) for s in stages] == [("head", 2, ["encoder"]), ("whole", 4, [])]
    assert stages[1]["lr"] == 3e-4  # the whole network at its own --lr-whole
    encoder, model = load_file(str(pre / "encoder.safetensors")), load_file(str(run / "model.safetensors"))
    assert not torch.equal(encoder["encoder.proj.weight"], model["encoder.proj.weight"])  # unfrozen in stage 2
    bn = "encoder.cnn.1.running_mean"  # and its BatchNorm back in training mode, updating its statistics
    assert not torch.equal(encoder[bn], model[bn])
    capsys.readouterr()

    assert main(["evaluate", str(run), "--data", tiny_data["val"], "--json", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"word_accuracy", "one_minus_ned", "cer", "num_samples", "images_per_second"} <= set(metrics)
    assert metrics["num_samples"] == 64

    image = tmp_path / "x.png"
    image.write_bytes(LmdbReader(tiny_data["val"]).image_bytes(0))
    capsys.readouterr()
    assert main(["predict", str(run), str(image)]) == 0
    path, text, confidence = capsys.readouterr().out.rstrip("\n").split("\t")
    assert path == str(image) and 0.0 <= float(confidence) <= 1.0


def test_early_stopping_leaves_a_run_on_the_plateau_its_budget(tiny_data, tmp_path):
    run = tmp_path / "run"
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--max-steps", "8", "--val-every", "2", "--early-stopping", "1", "--batch-size", "32",
                 "--no-progress"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["val_word_accuracy"], metrics["steps"], metrics["trained_steps"]) == (0.0, 8, 8)


def test_frozen_protocol_keeps_every_encoder_weight(tiny_data, tmp_path):
    pre, run = tmp_path / "pre", tmp_path / "run"
    assert main(["pretrain", "--method", "simclr", "--data", tiny_data["unlabeled"], "--out", str(pre),
                 "--max-steps", "2", "--batch-size", "32", "--features", "visual", "--no-progress"]) == 0
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--init", str(pre), "--protocol", "frozen", "--max-steps", "5", "--batch-size", "32",
                 "--no-progress"]) == 0
    encoder = load_file(str(pre / "encoder.safetensors"))
    model = load_file(str(run / "model.safetensors"))
    assert encoder and all(torch.equal(encoder[k], model[k]) for k in encoder)  # BatchNorm statistics included
    assert json.loads((run / "metrics.json").read_text())["stages"][0]["frozen"] == ["encoder"]
    torch.manual_seed(0)  # the initial weights that fine-tuning started from
    initial = Recognizer(assemble(), Charset.from_spec("captcha")).state_dict()
    assert not torch.equal(initial["decoder.head.weight"], model["decoder.head.weight"])  # while the decoder trained


def test_contextual_features_and_bilstm_head_pretrain_the_sequence_model(tiny_data, tmp_path):
    pre, run = tmp_path / "pre", tmp_path / "run"
    assert main(["pretrain", "--method", "seqclr", "--data", tiny_data["unlabeled"], "--out", str(pre),
                 "--max-steps", "2", "--batch-size", "32", "--features", "contextual", "--head", "bilstm",
                 "--no-shortcut", "--no-progress"]) == 0
    assert {k.split(".")[0] for k in load_file(str(pre / "encoder.safetensors"))} == {"encoder", "sequence"}
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--init", str(pre), "--protocol", "frozen", "--max-steps", "2", "--batch-size", "32",
                 "--no-progress"]) == 0
    assert json.loads((run / "metrics.json").read_text())["stages"][0]["frozen"] == ["encoder", "sequence"]
    # the pretrained sequence model keeps its own architecture: no untrained shortcut to freeze beside it
    assert json.loads((run / "config.json").read_text())["assembly"]["sequence_options"]["shortcut"] is False


def test_finetuning_takes_the_model_and_image_size_of_its_init_run(tiny_data, tmp_path):
    pre, run = tmp_path / "pre", tmp_path / "run"
    assert main(["pretrain", "--data", tiny_data["unlabeled"], "--out", str(pre), "--max-steps", "1",
                 "--batch-size", "32", "--encoder-size", "large", "--width", "96", "--no-progress"]) == 0
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--init", str(pre), "--max-steps", "1", "--batch-size", "32", "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["finetune"]["encoder_size"], config["finetune"]["width"], config["image"]["width"]) == \
        ("large", 96, 96)
    assert config["assembly"]["encoder_options"]["dim"] == 256  # the large encoder's


def test_a_run_prints_no_lightning_banner(tiny_data, tmp_path):
    result = subprocess.run([sys.executable, "-m", "textssl", "finetune", "--train", tiny_data["train"], "--val",
                             tiny_data["val"], "--out", str(tmp_path / "run"), "--max-steps", "1", "--batch-size",
                             "32", "--no-progress"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "GPU available" not in result.stderr and "TPU available" not in result.stderr, result.stderr


def test_console_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "textssl", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "pretrain" in result.stdout
