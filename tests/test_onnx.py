import pytest
import torch

from textssl.api import TextRecognizer
from textssl.cli import main
from textssl.data.charset import Charset
from textssl.data.dataset import ImageSpec
from textssl.export import export_onnx
from textssl.models.assembly import assemble
from textssl.models.recognizer import Recognizer


@pytest.mark.parametrize("encoder, decoder, rectify", [("cnn", "ctc", None), ("cnn", "attention", None),
                                                       ("vit", "transformer", None), ("resnet", "ctc", "tps")])
def test_onnxruntime_reads_what_pytorch_reads_at_another_batch_size(tmp_path, encoder, decoder, rectify):
    torch.manual_seed(0)
    size = {"vit": "micro", "resnet": "small"}.get(encoder)
    model = Recognizer(assemble(encoder=encoder, encoder_size=size, decoder=decoder, rectify=rectify, max_length=6,
                                width=64), Charset.from_spec("digits"))
    for parameter in model.decoder.parameters():  # confident enough that the texts are not all empty
        parameter.data *= 4
    reader = TextRecognizer(model, model.charset, ImageSpec(32, 64, 1))
    onnx_reader = TextRecognizer.load(export_onnx(reader, tmp_path / "m.onnx"))
    images = torch.randint(0, 256, (5, 1, 32, 64), dtype=torch.uint8)  # exported with a batch of 2
    with torch.no_grad():
        expected = model(images.float() / 255.0)
    # the decoder's weights x4 grow float32 rounding with them, hence 1e-3
    torch.testing.assert_close(onnx_reader.model.logits(images), expected, rtol=1e-3, atol=1e-3)
    read, onnx_read = reader.predict_batch(images), onnx_reader.predict_batch(images)
    assert [text for text, _ in onnx_read] == [text for text, _ in read]
    assert any(text for text, _ in read)
    assert [c for _, c in onnx_read] == pytest.approx([c for _, c in read], abs=1e-4)


def test_export_and_predict_onnx_from_the_command_line(tiny_run, tmp_path, capsys):
    image = tmp_path / "a.png"
    from PIL import Image
    Image.new("L", (128, 32), 255).save(image)
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "m.onnx")]) == 0
    capsys.readouterr()
    assert main(["predict", str(tiny_run), str(image)]) == 0
    from_run = capsys.readouterr().out
    assert main(["predict", "--onnx", str(tmp_path / "m.onnx"), str(image)]) == 0
    assert capsys.readouterr().out == from_run


def test_bad_onnx_paths_are_one_line(tiny_run, tmp_path, capsys):
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "m.pt")]) == 2
    assert capsys.readouterr().err == f"error: --out {tmp_path / 'm.pt'}: name a .onnx file\n"
    assert main(["predict", "--onnx", str(tmp_path / "missing.onnx"), "a.png"]) == 2
    assert capsys.readouterr().err == f"error: --onnx {tmp_path / 'missing.onnx'}: no such file\n"
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert main(["predict", "--onnx", str(tmp_path / "junk.onnx"), "a.png"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'junk.onnx'}: onnxruntime cannot load it")
