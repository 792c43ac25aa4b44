import dataclasses

import pytest
import torch

from textssl.data.charset import Charset
from textssl.errors import UserError
from textssl.methods import METHODS, build_method, method_class
from textssl.methods.base import MethodBatch
from textssl.models.assembly import Assembly, assemble, from_config
from textssl.models.recognizer import PretrainBackbone, Recognizer, upgrade_weights

CHARSET = Charset.from_spec("captcha")


def test_recognizer_shapes_and_feature_sequence():
    assembly = assemble()
    model = Recognizer(assembly, CHARSET)
    images = torch.rand(3, 1, 32, 128)
    visual = model.encoder(images)
    assert visual.shape == (3, 32, 128) and model.frames == 32  # one frame per 4 pixels of width
    assert model.sequence(visual).shape == (3, 32, 2 * assembly.sequence_options["hidden"])
    assert model(images).shape == (3, 32, 37)  # the 36 characters and the CTC blank


def test_pretrained_backbone_keys_fit_the_recognizer():
    assembly = assemble()
    for features, prefixes in (("visual", {"encoder"}), ("contextual", {"encoder", "sequence"})):
        state = PretrainBackbone(assemble(decoder=None), features).state_dict()
        assert {k.split(".")[0] for k in state} == prefixes
        result = Recognizer(assembly, CHARSET).load_state_dict(state, strict=False)
        assert not result.unexpected_keys


def test_every_method_runs_with_every_mapping():
    views = [torch.rand(4, 1, 32, 128), torch.rand(4, 1, 32, 128)]
    for name in METHODS:
        cls = method_class(name)
        if "mapping" not in {f.name for f in dataclasses.fields(cls.Options)}:
            continue  # MAE, SimMIM: patches, no instances (tests/test_masked_methods.py)
        vit = {"encoder": "vit", "encoder_size": "micro"} if getattr(cls, "needs_patches", False) else {}
        for mapping in ("all", "frame", "window"):
            crops = {"crops": 0} if name == "swav" and mapping != "all" else {}  # swav's crops need mapping all
            options = cls.Options(mapping=mapping, windows=3, **crops)
            method = build_method(name, PretrainBackbone(assemble(decoder=None, **vit)), options)
            loss, embeddings = method(MethodBatch(views, torch.tensor([128] * 4), views[0]))
            instances = {"all": 1, "frame": 32, "window": 3}[mapping]
            assert embeddings.shape[0] == 4 * instances
            assert torch.isfinite(loss)
            loss.backward()


def test_classic_crnn_has_no_shortcut():
    images = torch.rand(2, 1, 32, 128)
    classic = Recognizer(assemble(shortcut=False), CHARSET)
    assert classic(images).shape == (2, 32, 37)
    assert {name.split(".")[0] for name, _ in classic.sequence.named_parameters()} == {"lstm"}
    with_shortcut = Recognizer(assemble(), CHARSET)
    extra = sum(p.numel() for p in with_shortcut.parameters()) - sum(p.numel() for p in classic.parameters())
    assert extra == 128 * 256 + 256  # one Linear(dim, 2 * hidden)


@pytest.mark.parametrize("encoder", ["cnn", "resnet", "vit"])
@pytest.mark.parametrize("sequence", ["bilstm", "none", "transformer"])
def test_every_encoder_and_sequence_model_gives_the_frames_it_says(encoder, sequence):
    for height, width in ((32, 128), (32, 100), (48, 160)):
        if encoder == "resnet" and height % 16:
            continue
        model = Recognizer(assemble(encoder=encoder, sequence=sequence, height=height, width=width), CHARSET).eval()
        features = model.features(torch.rand(2, 1, height, width))
        assert features.shape[:2] == (2, width // 4) and model.frames == width // 4
        assert features.shape[2] == model.sequence.dim


@pytest.mark.parametrize("decoder", ["ctc", "attention", "transformer"])
def test_every_decoder_trains_and_reads(decoder):
    model = Recognizer(assemble(decoder=decoder, max_length=6, rectify="tps"), CHARSET)
    images, labels = torch.rand(2, 1, 32, 128), ["AB12", "7"]
    loss = model.loss(images, labels)
    loss.backward()
    assert torch.isfinite(loss) and model.rectifier is not None
    read = model.eval().read((images * 255).to(torch.uint8))
    assert len(read) == 2 and all(isinstance(t, str) and 0.0 <= c <= 1.0 for t, c in read)
    too_long = "A" * 7 if decoder != "ctc" else "A" * 40
    assert model.misfit(too_long) and not model.misfit("AB12")


@pytest.mark.parametrize("options, message", [
    ({"encoder": "vgg"}, "unknown --encoder 'vgg'"),
    ({"encoder": "vit", "encoder_size": "large"}, "--encoder-size large: the vit encoder comes in micro, tiny, small"),
    ({"decoder": "beam"}, "unknown --decoder 'beam'"),
    ({"rectify": "stn"}, "unknown --rectify 'stn'"),
    ({"encoder": "vit", "width": 102}, "--width 102: the vit encoder needs a multiple of 4"),
    ({"encoder": "resnet", "height": 40}, "--height 40: the resnet encoder needs a multiple of 16"),
])
def test_bad_parts_are_one_line(options, message):
    with pytest.raises(UserError) as error:
        assemble(**options)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_run_written_before_assemblies_is_read_as_cnn_bilstm_ctc():
    old = {"kind": "recognizer", "image": {"height": 32, "width": 100, "channels": 1},
           "model": {"channels": [16, 32, 64, 128], "dim": 128, "hidden": 128, "layers": 2, "in_channels": 1,
                     "height": 32, "dropout": 0.2, "shortcut": False}}
    assembly = from_config(old, "run")
    assert assembly == Assembly(sequence_options={"hidden": 128, "layers": 2, "dropout": 0.2, "shortcut": False},
                                width=100)
    assert from_config({"assembly": assembly.to_dict()}, "run") == assembly
    assert set(upgrade_weights({"head.weight": 1, "encoder.proj.bias": 2})) == {"decoder.head.weight",
                                                                                  "encoder.proj.bias"}
