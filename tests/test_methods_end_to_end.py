"""Every SSL method pretrains through the command line at the mappings it allows and on every encoder,
and fine-tuning takes its run: the encoder's kind and size come from the pretraining run."""
import json

import pytest
from safetensors.torch import load_file

from textssl.cli import main

CASES = [  # method, encoder, extra options: each new method once, each encoder once, each mapping once
    ("moco-v1", "cnn", ["--mapping", "frame", "--queue-size", "50"]),
    ("moco-v2", "cnn", ["--mapping", "window", "--queue-size", "60"]),
    ("moco-v3", "vit", ["--encoder-size", "micro", "--mapping", "window"]),
    ("byol", "resnet", ["--encoder-size", "small"]),
    ("swav", "cnn", ["--crops", "2", "--queue-size", "48", "--freeze-prototypes", "1"]),
    ("swav", "cnn", ["--mapping", "window", "--crops", "0"]),
    ("seqclr", "cnn", ["--loss", "triplet"]),
    ("simclr", "cnn", ["--loss", "margin"]),
]


@pytest.mark.parametrize("method,encoder,options", CASES, ids=[f"{m}-{e}-{' '.join(o)}" for m, e, o in CASES])
def test_method_pretrains_and_logs_a_finite_loss(method, encoder, options, tiny_data, tmp_path):
    pre = tmp_path / "pre"
    assert main(["pretrain", "--method", method, "--encoder", encoder, "--data", tiny_data["unlabeled"],
                 "--out", str(pre), "--max-steps", "2", "--batch-size", "16", "--workers", "0",
                 "--no-progress", *options]) == 0
    metrics = json.loads((pre / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["loss"] == metrics["loss"]  # not NaN
    saved = json.loads((pre / "config.json").read_text())
    assert saved["assembly"]["encoder"] == encoder
    given = {name[2:].replace("-", "_"): value for name, value in zip(options[::2], options[1::2])}
    method_options = saved["pretrain"]["method_options"]
    assert {k: str(v) for k, v in method_options.items() if k in given} == \
        {k: v for k, v in given.items() if k != "encoder_size"}  # the method's own options, as given
    weights = load_file(str(pre / "encoder.safetensors"))
    assert not any(k.startswith(("key_", "target_")) for k in weights)  # the online encoder only


def test_a_vit_pretrained_by_moco_v3_is_fine_tuned_from_its_run(tiny_data, tmp_path):
    pre, run = tmp_path / "pre", tmp_path / "run"
    assert main(["pretrain", "--method", "moco-v3", "--encoder", "vit", "--encoder-size", "micro", "--data",
                 tiny_data["unlabeled"], "--out", str(pre), "--max-steps", "2", "--batch-size", "16",
                 "--workers", "0", "--no-progress"]) == 0
    assert main(["finetune", "--train", tiny_data["train"], "--val", tiny_data["val"], "--out", str(run), "--init",
                 str(pre), "--protocol", "frozen", "--max-steps", "2", "--batch-size", "16", "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["assembly"]["encoder"], config["finetune"]["encoder_size"]) == ("vit", "micro")
    encoder, model = load_file(str(pre / "encoder.safetensors")), load_file(str(run / "model.safetensors"))
    frozen = [k for k in encoder if k.startswith("encoder.")]
    assert frozen and all((encoder[k] == model[k]).all() for k in frozen)  # frozen: the pretrained ViT itself
    assert main(["evaluate", str(run), "--data", tiny_data["val"]]) == 0


def test_a_bad_method_option_is_one_error_line(tiny_data, tmp_path, capsys):
    assert main(["pretrain", "--method", "moco-v2", "--data", tiny_data["unlabeled"], "--out", str(tmp_path / "p"),
                 "--momentum", "1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --momentum") and "1.5" in err[0]
    assert not (tmp_path / "p").exists()


def test_preview_of_a_method_shows_its_views_and_swav_crops(tiny_data, tmp_path, capsys):
    from textssl.cli_data import method_views as _method_views
    from textssl.data.dataset import ImageSpec, LmdbTextDataset, collate

    dataset = LmdbTextDataset(tiny_data["val"], ImageSpec())
    batch = collate([dataset[i] for i in range(3)])
    views = _method_views("swav", "seqclr", 1.0, batch)
    assert [title for title, _ in views] == ["view 1: seqclr", "view 2: seqclr", "crop 1", "crop 2"]
    assert [tuple(v.shape) for _, v in views] == [(3, 1, 32, 128)] * 2 + [(3, 1, 32, 64)] * 2
    byol = _method_views("byol", "captcha", 1.0, batch)
    assert [title for title, _ in byol] == ["view 1: captcha", "view 2: captcha"]
    out = tmp_path / "p.png"
    assert main(["data", "preview", tiny_data["val"], "--out", str(out), "--method", "swav", "--count", "2"]) == 0
    assert out.stat().st_size > 0
