"""ONNX: a fine-tuned run's recognizer as one graph, uint8 images [B, C, H, W] -> logits [B, T, K], the
batch size dynamic; the autoregressive decoders run their greedy loop inside the graph (always
max_length + 1 steps). Decoding the logits to text stays in Python, with the decoder's own code, so
that PyTorch and onnxruntime read the same strings. The file carries what reading needs as metadata:
the assembly, the charset and the image size.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from textssl.data.charset import Charset
from textssl.data.dataset import ImageSpec
from textssl.errors import UserError
from textssl.models.assembly import Assembly
from textssl.run_dir import replaced_atomically

METADATA = ("textssl.assembly", "textssl.charset", "textssl.image")


class _Logits(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.float() / 255.0)


def export_onnx(reader, out: str | Path) -> Path:
    """Write ``reader``'s (a TextRecognizer's) model to ``out`` (.onnx), atomically."""
    import onnx

    out = Path(out)
    model, spec = reader.model.to("cpu").eval(), reader.spec
    example = torch.zeros(2, spec.channels, spec.height, spec.width, dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(_Logits(model), (example,), input_names=["images"], output_names=["logits"],
                                    dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1)}},
                                    dynamo=True, verbose=False)
    proto = program.model_proto
    values = (json.dumps(model.assembly.to_dict()), json.dumps({"chars": reader.charset.chars,
                                                                 "name": reader.charset.name}),
              json.dumps(spec.to_dict()))
    for key, value in zip(METADATA, values):
        proto.metadata_props.add(key=key, value=value)
    with replaced_atomically(out) as tmp:
        onnx.save(proto, tmp)
    return out


class OnnxModel:
    """A recognizer exported by ``export_onnx``, run by onnxruntime: ``read`` as Recognizer.read."""

    def __init__(self, path: str | Path):
        import onnxruntime

        from textssl.models.recognizer import build_decoder

        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such ONNX file")
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for files it cannot parse
            raise UserError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0][:200]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            assembly = Assembly.from_dict(json.loads(meta[METADATA[0]]), str(path))
            charset = json.loads(meta[METADATA[1]])
            self.spec = ImageSpec(**json.loads(meta[METADATA[2]]))
        except (KeyError, ValueError, TypeError) as exc:
            raise UserError(f"{path}: not a model written by textssl export ({exc.__class__.__name__})") from None
        self.assembly, self.charset = assembly, Charset(charset["chars"], name=charset["name"])
        self.decoder = build_decoder(assembly, self.charset, dim_in=1)  # for its decoding only; no weights used

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images [B, C, H, W] -> logits [B, T, K]."""
        return torch.from_numpy(self.session.run(None, {"images": images.cpu().numpy()})[0])

    def read(self, images: torch.Tensor) -> list[tuple[str, float]]:
        return self.decoder.decode(self.logits(images))
