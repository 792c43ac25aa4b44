"""The whole study path on a tiny preset, including resume of an interrupted study."""
import json
from pathlib import Path

import pytest

import textssl.eval.study as study
from textssl.cli import main
from textssl.errors import UserError

PRESET = str(Path(__file__).with_name("tiny-study.yaml"))


def test_study_runs_and_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "study"
    real_finetune, calls = study.finetune, []

    def interrupted_finetune(cfg):
        if "supervised-64" in cfg.out:
            raise KeyboardInterrupt
        calls.append(cfg.out)
        return real_finetune(cfg)

    monkeypatch.setattr(study, "finetune", interrupted_finetune)
    with pytest.raises(KeyboardInterrupt):
        study.run_study(PRESET, out, progress=False)
    first = list(calls)
    assert any("simclr-32" in c for c in first) and not (out / "results.json").exists()

    calls.clear()
    monkeypatch.setattr(study, "finetune", lambda cfg: calls.append(cfg.out) or real_finetune(cfg))
    assert main(["study", "--preset", PRESET, "--out", str(out), "--no-progress"]) == 0
    assert not set(calls) & set(first)  # finished cells are not recomputed
    assert "| supervised | 64 |" in capsys.readouterr().out

    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {(r["method"], r["labels"]) for r in rows} >= {("simclr", 32), ("simclr", 64), ("supervised", 32),
                                                         ("supervised", 64)}
    for row in rows:
        assert {"word_accuracy", "one_minus_ned", "cer", "finetune_seconds"} <= set(row)
    assert (out / "accuracy.png").stat().st_size > 0
    assert "0.9081" in (out / "results.md").read_text()


def test_unknown_preset_and_bad_key(tmp_path):
    with pytest.raises(UserError, match="captcha-quick"):
        study.load_preset("no-such-preset")
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels: [1]\nfinetune: {lr_hole: 1}\n")
    with pytest.raises(UserError, match="finetune.lr_hole"):
        study.load_preset(str(bad))
