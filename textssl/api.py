"""Python API: load a fine-tuned run and read text from images.

    >>> from textssl.api import TextRecognizer
    >>> reader = TextRecognizer.load("runs/crnn")
    >>> reader.predict(["a.png", "b.png"])   # [("7KQ2", 0.98), ...]
    >>> TextRecognizer.load("model.onnx")     # a `textssl export` file, run by onnxruntime
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from textssl.data.dataset import ImageSpec, decode_image, to_tensor
from textssl.errors import UserError
from textssl.models.assembly import from_config
from textssl.models.recognizer import Recognizer, upgrade_weights
from textssl.run_dir import MODEL_WEIGHTS, load_weights, read_charset, read_config


class TextRecognizer:
    def __init__(self, model, charset, spec: ImageSpec, device: str = "cpu"):
        """``model``: a Recognizer, or an OnnxModel (textssl.export), which runs on the CPU."""
        self.model = model.to(device).eval() if isinstance(model, torch.nn.Module) else model
        self.charset, self.spec, self.device = charset, spec, device

    @classmethod
    def load(cls, run: str | Path, device: str | None = None) -> "TextRecognizer":
        """A fine-tuned run directory, or a .onnx file written by ``textssl export``."""
        if str(run).endswith(".onnx"):
            from textssl.export import OnnxModel
            model = OnnxModel(run)
            return cls(model, model.charset, model.spec, "cpu")
        run, config = read_config(run, MODEL_WEIGHTS, "recognizer")
        charset = read_charset(run, config)
        model = Recognizer(from_config(config, str(run)), charset)
        try:
            model.load_state_dict(upgrade_weights(load_weights(run / MODEL_WEIGHTS)))
        except RuntimeError as exc:  # the first line only says "Error(s) in loading state_dict"; then one per key
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            reason = lines[1] if len(lines) > 1 else lines[0]
            raise UserError(f"{run / MODEL_WEIGHTS}: weights do not match config.json and charset.txt ({reason})") \
                from None
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(model, charset, ImageSpec(**config["image"]), device)

    def image_tensor(self, image: Image.Image | str | Path) -> torch.Tensor:
        """A PIL image or an image file -> uint8 [C, H, W], resized and padded to the run's image size."""
        if isinstance(image, Image.Image):
            return to_tensor(image, self.spec)[0]
        path = Path(image)
        if not path.is_file():
            raise UserError(f"{path}: no such image file")
        return decode_image(path.read_bytes(), self.spec, str(path))[0]

    @torch.inference_mode()
    def predict_batch(self, images: torch.Tensor) -> list[tuple[str, float]]:
        """uint8 images [B, C, H, W] (already resized and padded) -> (text, confidence) per image."""
        return self.model.read(images.to(self.device, non_blocking=True))

    def predict(self, images, batch_size: int = 64) -> list[tuple[str, float]]:
        """PIL images or paths -> (text, confidence) per image."""
        tensors = [self.image_tensor(x) for x in images]
        out: list[tuple[str, float]] = []
        for i in range(0, len(tensors), batch_size):
            out += self.predict_batch(torch.stack(tensors[i:i + batch_size]))
        return out
