"""Pretraining survives a kill: checkpoints are written atomically and --resume ends at the same step."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from textssl.cli import main
from textssl.errors import UserError
from textssl.train.pretrain import AtomicCheckpointIO, PretrainConfig, pretrain


def test_resume_after_kill_mid_epoch(tiny_data, tmp_path):
    out = tmp_path / "pre"
    args = ["pretrain", "--method", "simsiam", "--data", tiny_data["unlabeled"], "--out", str(out),
            "--max-steps", "40", "--batch-size", "32", "--checkpoint-every", "3", "--no-progress"]
    process = subprocess.Popen([sys.executable, "-m", "textssl", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    last = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert last.exists(), "no checkpoint was written before the kill"
    killed = torch.load(last, weights_only=True)
    killed_at = killed["global_step"]
    assert 0 < killed_at < 40 and killed_at % 8 != 0  # 8 steps per epoch: killed mid-epoch

    resumed_at = time.time()
    assert main(["pretrain", "--out", str(out), "--resume", "--no-progress"]) == 0  # the rest from config.json
    wall = time.time() - resumed_at
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 40
    before = killed["pretrain_seconds"]  # the training time up to the kill's last checkpoint counts too
    assert 0 < before < metrics["seconds"] <= before + wall
    with open(out / "logs" / f"pretrain-resumed-{killed_at}" / "metrics.csv") as log:
        logged_steps = [int(row["step"]) for row in csv.DictReader(log)]
    assert logged_steps and min(logged_steps) >= killed_at  # continued, not restarted
    assert torch.load(last, weights_only=True)["global_step"] == 40
    assert (out / "encoder.safetensors").is_file()


def test_pretrain_refuses_to_overwrite_a_checkpointed_run(tiny_data, tmp_path, capsys):
    out = tmp_path / "pre"
    base = ["pretrain", "--data", tiny_data["unlabeled"], "--out", str(out), "--max-steps", "1",
            "--batch-size", "32", "--no-progress"]
    assert main(base) == 0
    capsys.readouterr()
    assert main(base) == 2
    assert "--resume" in capsys.readouterr().err


def test_ctrl_c_says_interrupted_and_keeps_the_checkpoint(tiny_data, tmp_path):
    out = tmp_path / "pre"
    process = subprocess.Popen([sys.executable, "-m", "textssl", "pretrain", "--data", tiny_data["unlabeled"],
                                "--out", str(out), "--max-steps", "400", "--batch-size", "32", "--checkpoint-every",
                                "2", "--no-progress"], stderr=subprocess.PIPE, text=True,
                               # a shell that starts CI in the background hands down SIGINT ignored
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out / "checkpoints" / "last.ckpt").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err
    assert (out / "checkpoints" / "last.ckpt").is_file() and not (out / "metrics.json").exists()


def test_resume_refuses_options_it_would_not_use(tmp_path, capsys):
    assert main(["pretrain", "--out", str(tmp_path), "--resume", "--lr", "0.1"]) == 2
    assert capsys.readouterr().err == "error: --resume continues with the options saved in OUT/config.json; drop --lr\n"


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, path)

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(UserError, match="cannot write the checkpoint .*disk full.*the previous one is kept"):
        io.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}


class BatchRecorder(Callback):
    def __init__(self, fail_at=None):
        self.batches, self.fail_at = {}, fail_at

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.fail_at:
            raise RuntimeError("killed")
        self.batches[trainer.global_step] = batch.images.clone()


def test_resumed_run_goes_on_with_new_images_not_the_first_ones_again(tiny_data, tmp_path):
    def config(recorder, resume=False):
        return PretrainConfig(data=[tiny_data["unlabeled"]], out=str(tmp_path / "pre"), method="simclr", max_steps=6,
                              batch_size=32, checkpoint_every=2, workers=0, progress=False, resume=resume,
                              extra_callbacks=[recorder])

    first = BatchRecorder(fail_at=3)  # 8 steps per epoch: stops mid-epoch, after the checkpoint of step 2
    with pytest.raises(RuntimeError, match="killed"):
        pretrain(config(first))
    resumed = BatchRecorder()
    pretrain(config(resumed, resume=True))
    assert sorted(resumed.batches) == [2, 3, 4, 5]
    assert not any(torch.equal(resumed.batches[2], seen) for seen in first.batches.values())


class _Payload:
    """Unpickled, it would create a folder: a stand-in for code that a checkpoint could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_resume_refuses_a_checkpoint_that_would_run_code_and_runs_none(tiny_data, tmp_path, capsys):
    out, marker = tmp_path / "pre", tmp_path / "created-by-the-checkpoint"
    assert main(["pretrain", "--data", tiny_data["unlabeled"], "--out", str(out), "--max-steps", "1",
                 "--batch-size", "32", "--no-progress"]) == 0
    (out / "metrics.json").unlink()  # as a run killed after its checkpoint
    last = out / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    torch.save({**checkpoint, "extra": _Payload(marker)}, last)
    capsys.readouterr()
    assert main(["pretrain", "--out", str(out), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {last}: refused, it holds more than tensors"), err
    assert not marker.exists()


def test_a_full_disk_while_checkpointing_ends_in_one_line_and_keeps_the_last_checkpoint(tiny_data, tmp_path, capsys,
                                                                                         monkeypatch):
    out = tmp_path / "pre"
    real_save, calls = torch.save, []

    def save_until_the_disk_fills(obj, f, *args, **kwargs):
        calls.append(obj.get("global_step"))
        if len(calls) > 1:  # what torch's writer raises on a full disk
            raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                               "data/3: file write failed")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_the_disk_fills)
    status = main(["pretrain", "--data", tiny_data["unlabeled"], "--out", str(out), "--max-steps", "6",
                   "--batch-size", "32", "--checkpoint-every", "2", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    last = out / "checkpoints" / "last.ckpt"
    assert status == 2 and len(err) == 1, err
    assert err[0] == (f"error: {last}: cannot write the checkpoint ([enforce fail at inline_container.cc:664] . "
                      "PytorchStreamWriter failed writing file data/3: file write failed); the previous one is kept")
    monkeypatch.undo()
    assert torch.load(last, weights_only=True)["global_step"] == 2 and not list(last.parent.glob("*.tmp"))


def test_more_windows_than_frames_is_refused(tiny_data, tmp_path, capsys):
    assert main(["pretrain", "--data", tiny_data["unlabeled"], "--out", str(tmp_path / "pre"), "--windows", "33",
                 "--no-progress"]) == 2
    assert capsys.readouterr().err == ("error: --windows 33: more than the encoder's 32 frames at width 128; give at "
                                       "most 32\n")
