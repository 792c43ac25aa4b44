"""The SSL method contract (textssl.methods.base): a method's own options from the command line, a
--config file and a study; its named view pipelines and raw images; its hook after every step; several
optimizers stepped in turn; runs saved before the methods had their own options still resume."""
import json
from dataclasses import dataclass

import torch
from torch import nn

from textssl.cli import main
from textssl.config import at_least
from textssl.methods import METHODS
from textssl.methods.base import MethodOptions, SSLMethod
from textssl.train.pretrain import PretrainConfig, pretrain

CALLS = {}


@dataclass(kw_only=True)
class TwoPlayerOptions(MethodOptions):
    weight: float = at_least(1.0, 0.0, "weight of the generator's loss")


class TwoPlayer(SSLMethod):
    """An adversarial toy: a discriminator tells the two views apart, the encoder is trained to fool it."""
    Options = TwoPlayerOptions
    views = ("augment", "none")
    wants_raw = True

    def __init__(self, backbone, options=None):
        super().__init__(backbone, options)
        self.discriminator = nn.Linear(backbone.dim, 1)
        CALLS.update(steps=[], batches=[], losses=[])

    def parameter_groups(self):
        return {"discriminator": [{"params": list(self.discriminator.parameters()), "lr_scale": 0.5}],
                "encoder": [{"params": list(self.backbone.parameters())}]}

    def losses(self, batch):
        CALLS["batches"].append(batch)
        features = [self.backbone(v).mean(1) for v in batch.views]
        logits = torch.cat([self.discriminator(f.detach()) for f in features])
        truth = torch.cat([torch.ones(len(features[0]), 1), torch.zeros(len(features[1]), 1)])
        CALLS["losses"].append("discriminator")
        yield "discriminator", nn.functional.binary_cross_entropy_with_logits(logits, truth)
        fooled = torch.cat([self.discriminator(f) for f in features])
        CALLS["losses"].append("encoder")
        yield "encoder", self.options.weight * nn.functional.binary_cross_entropy_with_logits(fooled, 1 - truth)

    def after_step(self, step, total):
        CALLS["steps"].append((step, total))


def test_two_optimizers_step_in_turn_with_views_raw_images_and_the_hook(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS, "two-player", f"{__name__}:TwoPlayer")
    cfg = PretrainConfig(data=[tiny_data["unlabeled"]], out=str(tmp_path / "pre"), method="two-player",
                         method_options={"weight": 2.0}, max_steps=3, batch_size=32, progress=False, workers=0)
    metrics = pretrain(cfg)
    assert metrics["steps"] == 3  # Lightning counts each optimizer's step; the run counts batches
    assert CALLS["steps"] == [(1, 3), (2, 3), (3, 3)]
    assert CALLS["losses"] == ["discriminator", "encoder"] * 3
    batch = CALLS["batches"][0]
    assert len(batch.views) == 2 and batch.raw.shape == batch.views[0].shape == (32, 1, 32, 128)
    assert torch.equal(batch.views[1], batch.raw)  # the "none" pipeline leaves the images as they are
    assert not torch.equal(batch.views[0], batch.raw)
    saved = json.loads((tmp_path / "pre" / "config.json").read_text())["pretrain"]
    assert saved["method_options"] == {"weight": 2.0}


def test_method_options_from_the_command_line_are_saved(tiny_data, tmp_path):
    out = tmp_path / "pre"
    assert main(["pretrain", "--method", "simclr", "--data", tiny_data["unlabeled"], "--out", str(out),
                 "--temperature", "0.2", "--mapping", "frame", "--max-steps", "1", "--batch-size", "16",
                 "--no-progress"]) == 0
    saved = json.loads((out / "config.json").read_text())["pretrain"]["method_options"]
    assert saved == {"mapping": "frame", "windows": 5, "head": "mlp", "proj_dim": 128, "hidden_dim": 256,
                     "loss": "info-nce", "temperature": 0.2, "margin": 0.5}


def test_a_run_saved_before_methods_had_their_own_options_resumes(tiny_data, tmp_path):
    out = tmp_path / "pre"
    args = ["pretrain", "--method", "simsiam", "--data", tiny_data["unlabeled"], "--out", str(out),
            "--batch-size", "16", "--no-progress"]
    assert main([*args, "--max-steps", "2"]) == 0
    config = json.loads((out / "config.json").read_text())
    config["pretrain"].pop("method_options")  # the former layout: the instance options beside the others
    config["pretrain"].update(mapping=None, windows=5, head="mlp", proj_dim=128, hidden_dim=256, temperature=0.1)
    config["pretrain"]["max_steps"] = 3
    (out / "config.json").write_text(json.dumps(config))
    assert main(["pretrain", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 3
