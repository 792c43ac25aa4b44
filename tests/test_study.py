"""The whole study path on a tiny preset, including resume of an interrupted study."""
import json
import re
from pathlib import Path

import pytest

import textssl.study.preset as presets
import textssl.study.runner as study
from textssl.cli import main
from textssl.data.lmdb_io import LmdbReader
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
    report = (out / "results.md").read_text()
    assert "0.9081" in report
    assert "Supervised learning rate, the best on validation of 0.001, 0.003: 32 labels:" in report

    calls.clear()
    study.run_study(PRESET, out, progress=False)
    assert calls == []  # an unchanged preset reuses every cell

    pretrained, real_pretrain = [], study.pretrain
    monkeypatch.setattr(study, "pretrain", lambda cfg: pretrained.append(cfg.out) or real_pretrain(cfg))
    longer = tmp_path / "longer.yaml"  # a new SimCLR run: its cells are stale, the supervised ones are not
    longer.write_text(Path(PRESET).read_text().replace("pretrain: {max_steps: 2", "pretrain: {max_steps: 3"))
    study.run_study(str(longer), out, progress=False)
    assert len(pretrained) == 1 and sorted(Path(c).name for c in calls) == ["simclr-32", "simclr-64"]

    pretrained.clear(), calls.clear()
    other_test = tmp_path / "other-test.yaml"  # a regenerated test set: every cell evaluated again, none trained
    other_test.write_text(longer.read_text().replace("test: 32", "test: 24"))
    evaluated, real_evaluate = [], study.evaluate_run
    monkeypatch.setattr(study, "evaluate_run", lambda run, data: evaluated.append(run) or real_evaluate(run, data))
    study.run_study(str(other_test), out, progress=False)
    assert pretrained == [] and calls == [] and len(evaluated) == 6
    study.run_study(str(other_test), out, progress=False)
    assert len(evaluated) == 6  # and evaluated once
    assert all(r["num_samples"] == 24 for r in json.loads((out / "results.json").read_text())["rows"])

    evaluated.clear()  # other code: every run made again, the data kept
    monkeypatch.setattr(study, "code_version", lambda: "0.0.0+changed")
    monkeypatch.setattr(study, "generate_captchas", lambda *a, **k: pytest.fail("data generated again"))
    study.run_study(str(other_test), out, progress=False)
    assert len(pretrained) == 1 and len(calls) == 6 and len(evaluated) == 6
    assert json.loads((out / "results.json").read_text())["code"] == "0.0.0+changed"


def test_study_over_seeds_reuses_the_cells_it_has(tmp_path, monkeypatch, capsys):
    out, preset = tmp_path / "study", tmp_path / "one-budget.yaml"
    preset.write_text(Path(PRESET).read_text().replace("labels: [32, 64]", "labels: [32]"))
    study.run_study(str(preset), out, progress=False)
    trained, real_finetune = [], study.finetune
    monkeypatch.setattr(study, "finetune", lambda cfg: trained.append(Path(cfg.out).name) or real_finetune(cfg))
    assert main(["study", "--preset", str(preset), "--out", str(out), "--no-progress", "--seeds", "0", "1"]) == 0
    assert sorted(trained) == ["simclr-32-seed1", "supervised-32-seed1-lr0.001", "supervised-32-seed1-lr0.003"]
    assert "Means over seeds 0, 1," in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert [(r["method"], r["seed"]) for r in results["rows"] if r["method"] != "tesseract"] == [
        ("simclr", 0), ("supervised", 0), ("simclr", 1), ("supervised", 1)]
    simclr = next(r for r in results["summary"] if r["method"] == "simclr")
    assert simclr["seeds"] == [0, 1]
    assert simclr["per_seed"] == [r["word_accuracy"] for r in results["rows"] if r["method"] == "simclr"]
    used = [json.loads((out / "finetune" / cell / "config.json").read_text())["finetune"]["seed"]
            for cell in ("simclr-32", "simclr-32-seed1")]
    assert used == [0, 1]


@pytest.mark.parametrize("text, message", [
    ("finetune: {lr_hole: 1}", "finetune: unknown key 'lr_hole'"),
    ("finetune: {lr: fast}", "'lr' must be a number, got 'fast'"),
    ("pretrain: {batch_size: }", "'batch_size' needs a value"),
    ("methods: [simclrr]", "unknown method 'simclrr'"),
    ("method_options: {simclr: {head: gru}}", "method_options.simclr: 'head': 'gru' is not one of mlp, linear, bilstm"),
    ("supervised: {lrs: [3e-4]}", "'supervised.lrs' must be a list of learning rates"),
    ("supervised: {lrs: 0.001}", "'supervised.lrs' must be a list of learning rates"),
    ("supervised: {shortcut: false}", "'supervised.shortcut': the supervised arm shares it with the SSL arms"),
    ("supervised: {max_steps: 9}", "'supervised.max_steps': the supervised arm shares it"),
    ("supervised: {augment: seqclr}", "its own options are lrs, warmup, weight_decay, optimizer"),
    ("supervised: {warmup: 2}", "finetune / supervised: 'warmup'"),
    ("pretrain: {encoder_size: large}", "'encoder_size' is 'large' but finetune 'encoder_size' is None"),
    ("finetune: {devices: 2}", "finetune 'devices' is '2': a study trains on one device"),
    ("method_options: {simclr: {devices: auto}}", "method_options.simclr 'devices' is 'auto'"),
    ("reference: [{method: a (b, c), labels: 1, word_accuracy: 0.5, source: x}]", "quote text with commas"),
    ("supervised: 5", "'supervised' must be a mapping"),
    ("method_options: {simclr: 3}", "'method_options.simclr' must be a mapping of pretrain options"),
    ("finetune: {init: runs/pre}", "'finetune.init' is set by the study"),
    ("method_options: {simclr: {width: 100}}", "'method_options.simclr.width' is set by the study"),
    ("seeds: [1, 1]", "'seeds' must list distinct whole numbers"),
    ("seeds: []", "'seeds' must list distinct whole numbers"),
    ("seeds: 3", "'seeds' must list distinct whole numbers"),
    ("seeds: [0, 1]\nfinetune: {seed: 4}", "'finetune.seed' and 'seeds' both set"),
    ("seeds: [-1, 100000000000000000000]", "'seed'"),
    ("methods: [simclr, simclr]", "'methods' lists a method twice"),
    ("methods: ['simclr:']", "unknown method 'simclr:'"),
    ("protocols: [frozen, self-train]", "'protocols' must list distinct fine-tuning protocols of full, frozen"),
    ("untrained: frozen", "'untrained' must list distinct fine-tuning protocols"),
    ("protocols: [frozen]\nfinetune: {protocol: full}", "'finetune.protocol' and 'protocols' both set"),
    ("untrained: [frozen]\nself_train: {max_steps: 2}", "it does not go with 'untrained'"),
    ("methods: [simclr, 'simclr:x']\nmethod_options: {'simclr:x': {loss: hinge}}", "method_options.simclr:x: 'loss'"),
])
def test_bad_presets_fail_before_any_work(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"data: {{unlabeled: 8, labeled: 8, val: 4, test: 4}}\nlabels: [8]\nmethods: [simclr]\n{text}\n")
    with pytest.raises(UserError, match=re.escape(message)):
        presets.load_preset(str(bad))


@pytest.mark.parametrize("size", ["160", "160x15", "wide", "[160, 60]", "{w: 160}"])
def test_a_bad_render_size_names_the_preset_and_key(tmp_path, size):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"data: {{render_size: {size}, labeled: 8, val: 4, test: 4}}\nlabels: [8]\n")
    with pytest.raises(UserError, match=re.escape(f"{bad}: 'data.render_size' must be WIDTHxHEIGHT")):
        presets.load_preset(str(bad))


def test_a_preset_render_size_draws_the_captchas_of_the_command_line(tmp_path):
    preset = tmp_path / "native.yaml"
    preset.write_text("data: {render_size: 160x60, width: 100, labeled: 3, val: 2, test: 2}\nlabels: [3]\n")
    data = presets.load_preset(str(preset))["data"]
    assert data["render_size"] == [160, 60]
    labeled = study.make_data(data, tmp_path / "data", with_unlabeled=False, progress=False)["labeled"]
    assert main(["data", "captcha", str(tmp_path / "cli"), "--count", "3", "--labeled", "--seed", "1",
                 "--width", "100", "--render-size", "160x60"]) == 0  # the labeled split's seed: data.seed * 10 + 1
    study_images, cli_images = LmdbReader(labeled), LmdbReader(tmp_path / "cli")
    assert [study_images.image_bytes(i) for i in range(3)] == [cli_images.image_bytes(i) for i in range(3)]


def test_the_supervised_arm_takes_its_own_schedule_and_the_ssl_arms_the_finetune_one(tmp_path):
    preset_file = tmp_path / "own.yaml"
    preset_file.write_text("data: {unlabeled: 8, labeled: 8, val: 4, test: 4}\nlabels: [8]\nmethods: [simclr]\n"
                           "finetune: {warmup: 0.05, max_steps: 30}\nsupervised: {lrs: [0.001], warmup: 0.2}\n")
    preset = presets.load_preset(str(preset_file))
    supervised = presets.supervised_config(preset, "", {}, "-", 8, 0.001, "-")
    ssl = presets.finetune_config(preset, "", {}, "-", 8, "runs/pre", "-")
    assert (supervised.warmup, supervised.protocol, supervised.lr, supervised.max_steps) == (0.2, "full", 0.001, 30)
    assert ssl.warmup == 0.05


def test_methods_must_be_a_list(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {unlabeled: 8, labeled: 8, val: 4, test: 4}\nlabels: [8]\nmethods: simclr\n")
    with pytest.raises(UserError, match="'methods' must be a list of method names"):
        presets.load_preset(str(bad))


def test_study_refuses_a_folder_that_holds_something_else(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds files but no study"):
        study.run_study(str(Path(__file__).parent / "tiny-study.yaml"), tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "preset.json").exists()


def test_unknown_preset_and_too_many_labels(tmp_path):
    with pytest.raises(UserError, match="captcha-quick"):
        presets.load_preset("no-such-preset")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {labeled: 8, val: 4, test: 4}\nlabels: [16]\n")
    with pytest.raises(UserError, match="between 1 and data.labeled"):
        presets.load_preset(str(bad))


def test_shipped_presets_load():
    for name in ("captcha-quick", "captcha-paper", "captcha-methods"):
        assert presets.load_preset(name)["labels"]


def test_recognizers_and_self_train_arms_beside_every_method_and_the_supervised_arm(tmp_path, monkeypatch):
    preset = tmp_path / "arms.yaml"
    preset.write_text(Path(PRESET).read_text().replace("labels: [32, 64]", "labels: [32]")
                      .replace("supervised: {lrs: [1.0e-3, 3.0e-3]}", "supervised: {lrs: [1.0e-3]}")
                      + "recognizers:\n  classic: {finetune: {shortcut: false}}\n"
                        "  shortcut: {finetune: {shortcut: true}, supervised: {lrs: [3.0e-3]}}\n"
                        "self_train: {self_train_steps: 2, pseudo_threshold: 0.0}\n")
    monkeypatch.setenv("PATH", "/nonexistent")  # no Tesseract row here
    rows = study.run_study(str(preset), tmp_path / "study", progress=False)
    arms = [(r["recognizer"], r["method"]) for r in rows]
    assert arms == [(rec, m) for rec in ("classic", "shortcut")
                    for m in ("simclr", "supervised", "simclr+self-train", "supervised+self-train")]
    for r in rows:
        config = json.loads((Path(r["run"]) / "config.json").read_text())
        assert config["assembly"]["sequence_options"]["shortcut"] == (r["recognizer"] == "shortcut")
        if r["method"].endswith("+self-train"):
            base = next(b for b in rows if b["recognizer"] == r["recognizer"] and b["method"] == r["method"][:-11])
            assert config["finetune"]["protocol"] == "self-train" and config["finetune"]["init"] == base["run"]
            assert "self_training" in r and r["finetune_seconds"] > base["finetune_seconds"]
    assert [r["lr"] for r in rows if r["method"] == "supervised"] == [1e-3, 3e-3]
    report = (tmp_path / "study" / "results.md").read_text()
    assert "| classic | simclr+self-train | 32 |" in report and "vs best from scratch" in report
    assert "Word error of the SSL method best on validation / supervised word error (shortcut)" in report
    assert "pseudo-labels of 128 images" in report


def test_a_tesseract_on_path_gives_its_row(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "tesseract"  # reads every image as "ABCD"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nwhile read -r line; do printf 'ABCD\\n\\f'; done < \"$1\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    preset = tmp_path / "scratch.yaml"
    preset.write_text("data: {labeled: 16, val: 8, test: 8, seed: 3}\nlabels: [16]\n"
                      "finetune: {max_steps: 1, batch_size: 8}\n")
    rows = study.run_study(str(preset), tmp_path / "study", progress=False)
    tesseract = rows[-1]
    assert tesseract["method"] == "tesseract" and tesseract["num_samples"] == 8 and tesseract["seed"] is None
    assert "| tesseract | 0 |" in (tmp_path / "study" / "results.md").read_text()


def test_method_variants_protocols_and_the_untrained_encoder(tmp_path, monkeypatch):
    preset = tmp_path / "methods.yaml"
    preset.write_text(Path(PRESET).read_text().replace("labels: [32, 64]", "labels: [32]")
                      .replace("methods: [simclr]", "methods: [simclr, 'simclr:triplet']")
                      .replace("pretrain: {max_steps: 2", "pretrain: {max_steps: 10")  # one logged step
                      .replace("protocol: two-stage, ", "")
                      .replace("supervised: {lrs: [1.0e-3, 3.0e-3]}", "supervised: {lrs: [1.0e-3]}")
                      + "method_options: {'simclr:triplet': {loss: triplet, margin: 0.3}}\n"
                        "protocols: [frozen, two-stage]\nuntrained: [frozen]\n")
    monkeypatch.setenv("PATH", "/nonexistent")
    out = tmp_path / "study"
    rows = study.run_study(str(preset), out, progress=False)
    assert [(r["method"], r.get("protocol")) for r in rows] == [
        ("simclr", "frozen"), ("simclr", "two-stage"), ("simclr:triplet", "frozen"), ("simclr:triplet", "two-stage"),
        ("untrained", "frozen"), ("supervised", None)]
    pretrained = json.loads((out / "pretrain" / "simclr-triplet" / "config.json").read_text())["pretrain"]
    assert (pretrained["method"], pretrained["method_options"]["loss"], pretrained["method_options"]["margin"]) == \
        ("simclr", "triplet", 0.3)
    untrained = out / "pretrain" / "untrained"
    assert json.loads((untrained / "metrics.json").read_text())["steps"] == 0 and not (untrained / "checkpoints").exists()
    from safetensors.torch import load_file
    weights = load_file(str(untrained / "encoder.safetensors"))
    means = [v for k, v in weights.items() if k.endswith("running_mean")]
    assert means and all(m.abs().sum() > 0 for m in means)  # BatchNorm statistics of the data, not the initial 0
    for r in rows[:-1]:
        config = json.loads((Path(r["run"]) / "config.json").read_text())["finetune"]
        assert config["protocol"] == r["protocol"]
        assert Path(config["init"]).name == r["method"].replace(":", "-")
    report = (out / "results.md").read_text()
    assert "| simclr:triplet | frozen | 32 |" in report and "| untrained | frozen | 32 |" in report
    assert "| simclr:triplet |" in report.split("Pretraining")[1]  # its loss and collapse indicator
    assert "untrained |" not in report.split("Pretraining")[1]
    results = json.loads((out / "results.json").read_text())
    assert set(results["pretraining"]) == {"simclr", "simclr:triplet"}
