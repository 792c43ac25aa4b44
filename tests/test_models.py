import torch

from textssl.methods import METHODS, build_method
from textssl.models.crnn import PretrainBackbone, Recognizer, model_config


def test_recognizer_shapes_and_feature_sequence():
    cfg = model_config("small")
    model = Recognizer(cfg, num_classes=37)
    images = torch.rand(3, 1, 32, 128)
    visual = model.encoder(images)
    assert visual.shape == (3, 32, cfg.dim)  # one frame per 4 pixels of width
    contextual = model.sequence(visual)
    assert contextual.shape == (3, 32, 2 * cfg.hidden)
    assert model(images).shape == (3, 32, 37)


def test_pretrained_backbone_keys_fit_the_recognizer():
    cfg = model_config("small")
    for features, prefixes in (("visual", {"encoder"}), ("contextual", {"encoder", "sequence"})):
        state = PretrainBackbone(cfg, features).state_dict()
        assert {k.split(".")[0] for k in state} == prefixes
        result = Recognizer(cfg, 37).load_state_dict(state, strict=False)
        assert not result.unexpected_keys


def test_every_method_runs_with_every_mapping():
    views = [torch.rand(4, 1, 32, 128), torch.rand(4, 1, 32, 128)]
    for name in METHODS:
        for mapping in ("all", "frame", "window"):
            method = build_method(name, PretrainBackbone(model_config("small")), mapping=mapping, windows=3)
            loss, embeddings = method(views)
            instances = {"all": 1, "frame": 32, "window": 3}[mapping]
            assert embeddings.shape[0] == 4 * instances
            assert torch.isfinite(loss)
            loss.backward()


def test_classic_crnn_has_no_shortcut():
    images = torch.rand(2, 1, 32, 128)
    classic = Recognizer(model_config("small", shortcut=False), 37)
    assert classic(images).shape == (2, 32, 37)
    names = {name.split(".")[0] for name, _ in classic.sequence.named_parameters()}
    assert names == {"lstm"}
    with_shortcut = Recognizer(model_config("small"), 37)
    extra = sum(p.numel() for p in with_shortcut.parameters()) - sum(p.numel() for p in classic.parameters())
    assert extra == 128 * 256 + 256  # one Linear(dim, 2 * hidden)
