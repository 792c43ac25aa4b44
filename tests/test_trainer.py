"""Trainer set-up: early stopping off CTC's plateau, several processes, --precision *-true."""
import json
import subprocess
import sys

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

import textssl.train.finetune as finetune_module
import textssl.train.pretrain as pretrain_module
from textssl.cli import main
from textssl.train.trainer import make_trainer, num_processes


class ScriptedScores(L.LightningModule):
    """Validation i (after step i + 1) reports scores[i] as its word accuracy."""

    def __init__(self, scores):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.scores, self.validations = scores, 0

    def training_step(self, batch, _):
        return (self.weight - batch).pow(2).mean()

    def validation_step(self, batch, _):
        self.log("val_word_accuracy", self.scores[self.validations])

    def on_validation_epoch_end(self):
        self.validations += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_early_stopping_counts_only_validations_off_the_plateau(tmp_path):
    task = ScriptedScores([0.0, 0.0, 0.0, 0.2, 0.1, 0.1, 0.1])
    trainer = make_trainer(tmp_path, "t", max_steps=7, callbacks=[], progress=False, val_every=1, early_stopping=1)
    data = DataLoader(torch.ones(7, 1), batch_size=1)
    trainer.fit(task, data, DataLoader(torch.ones(1, 1), batch_size=1))
    assert trainer.global_step == 5  # three reads of nothing, the best (0.2), one without gain: stop


def test_num_processes_follows_devices():
    assert num_processes("1") == 1 and num_processes("2") == 2


@pytest.mark.parametrize("module", [finetune_module, pretrain_module])
def test_epochs_are_split_across_processes(tiny_data, tmp_path, monkeypatch, module):
    monkeypatch.setattr(module, "num_processes", lambda devices, precision: 2)  # each process, half the batches
    if module is finetune_module:  # 192 labeled images, batches of 32: 6 per epoch, 3 per process
        args = ["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--val-every", "3"]
    else:  # 256 unlabeled images: 8 batches, 4 per process
        args = ["pretrain", "--method", "simclr", "--data", tiny_data["unlabeled"]]
    assert main([*args, "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "32", "--no-progress"]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == (3 if module is finetune_module
                                                                                   else 4)


def test_precision_true_trains_a_model_of_that_dtype(tiny_data, tmp_path):
    """--precision 64-true converts the weights; the float32 views must follow them."""
    pre, run = tmp_path / "pre", tmp_path / "run"
    assert main(["pretrain", "--method", "seqclr", "--data", tiny_data["unlabeled"], "--out", str(pre),
                 "--max-steps", "1", "--batch-size", "32", "--precision", "64-true", "--no-progress"]) == 0
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run),
                 "--init", str(pre), "--max-steps", "1", "--batch-size", "32", "--precision", "64-true",
                 "--no-progress"]) == 0


def test_two_processes_train_one_run_from_the_command_line(tiny_data, tmp_path):
    """Lightning starts the second process by running the command again: it must join the first one's
    run, not refuse its --out, write the run's files or print the metrics a second time."""
    run = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "textssl", "finetune", "--train", tiny_data["train"], "--val",
                             tiny_data["val"], "--out", str(run), "--max-steps", "2", "--batch-size", "16",
                             "--devices", "2", "--workers", "0", "--no-progress"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count('"trained_steps"') == 1 and "holds a run already" not in result.stderr
    assert json.loads((run / "metrics.json").read_text())["trained_steps"] == 2
