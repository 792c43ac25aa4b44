"""What a recognizer is made of, as plain data (no torch here): a run directory's config.json keeps it
under ``assembly`` and loading builds the model from it and the safetensors weights
(textssl.models.recognizer).

An assembly names its parts and keeps each part's resolved options (the encoder's channels or depth,
not only its size name), so that a run keeps loading when the named sizes change. Run directories
written before assemblies hold the CRNN's ``model`` entry instead; ``from_config`` reads those as a
``cnn`` + ``bilstm`` + ``ctc`` assembly with the same weights layout.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

from textssl.errors import UserError
from textssl.models import DECODERS, ENCODER_SIZES, ENCODERS, RECTIFIERS, SEQUENCES

MAX_LENGTH = 25  # the autoregressive decoders' longest text, as in PARSeq
# the strides and patch sizes of the encoders: (height multiple, width multiple)
SIZE_MULTIPLES = {"cnn": (8, 4), "resnet": (16, 4), "vit": (4, 4)}


def _sequence_options(sequence: str, dim: int, shortcut: bool) -> dict:
    if sequence == "bilstm":  # the CRNN's: hidden 128 for the small CNN, 256 for the larger encoders
        return {"hidden": 128 if dim <= 128 else 256, "layers": 2, "dropout": 0.2, "shortcut": shortcut}
    if sequence == "transformer":
        return {"layers": 2, "heads": 4, "dropout": 0.1}
    return {}


def _decoder_options(decoder: str | None, max_length: int) -> dict:
    if decoder == "attention":
        return {"max_length": max_length, "hidden": 256}
    if decoder == "transformer":
        return {"max_length": max_length, "d_model": 256, "heads": 8, "layers": 2, "dropout": 0.1}
    return {}


@dataclass
class Assembly:
    encoder: str = "cnn"
    encoder_options: dict = field(default_factory=lambda: copy.deepcopy(ENCODER_SIZES["cnn"]["small"]))
    sequence: str = "bilstm"
    sequence_options: dict = field(default_factory=lambda: _sequence_options("bilstm", 128, True))
    decoder: str | None = "ctc"  # None: a pretraining run's backbone, which has no decoder
    decoder_options: dict = field(default_factory=dict)
    rectify: str | None = None
    in_channels: int = 1
    height: int = 32
    width: int = 128

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def dim(self) -> int:
        """D, the encoder's feature width."""
        return self.encoder_options["dim"]

    def describe(self) -> str:
        parts = [self.rectify, self.encoder, self.sequence, self.decoder]
        return " + ".join(p for p in parts if p and p != "none")

    @classmethod
    def from_dict(cls, values, where: str) -> Assembly:
        names = {f for f in cls.__dataclass_fields__}
        if not isinstance(values, dict) or set(values) - names:
            raise UserError(f"{where}: 'assembly' is not a recognizer assembly")
        assembly = cls(**values)
        for value, known, what in ((assembly.encoder, ENCODERS, "encoder"), (assembly.sequence, SEQUENCES, "sequence"),
                                   (assembly.decoder, (None, *DECODERS), "decoder"),
                                   (assembly.rectify, (None, *RECTIFIERS), "rectify")):
            if value not in known:
                raise UserError(f"{where}: unknown {what} {value!r} in 'assembly'")
        return assembly


def check_image_size(encoder: str, height: int, width: int) -> None:
    """One UserError line unless ``encoder`` can take height x width images."""
    h, w = SIZE_MULTIPLES[encoder]
    if height < h or height % h:
        raise UserError(f"--height {height}: the {encoder} encoder needs a multiple of {h}")
    if width < w or width % w:
        raise UserError(f"--width {width}: the {encoder} encoder needs a multiple of {w}")


def assemble(*, encoder: str = "cnn", encoder_size: str | None = None, sequence: str = "bilstm",
             shortcut: bool = True, decoder: str | None = "ctc", max_length: int = MAX_LENGTH,
             rectify: str | None = None, in_channels: int = 1, height: int = 32, width: int = 128) -> Assembly:
    """The assembly of named parts, their options resolved; a bad name or size is one UserError line."""
    if encoder not in ENCODER_SIZES:
        raise UserError(f"unknown --encoder '{encoder}': use {', '.join(ENCODERS)}")
    sizes = ENCODER_SIZES[encoder]
    size = encoder_size or next(iter(sizes))
    if size not in sizes:
        raise UserError(f"--encoder-size {size}: the {encoder} encoder comes in {', '.join(sizes)}")
    for value, known, option in ((sequence, SEQUENCES, "--sequence"), (decoder, (None, *DECODERS), "--decoder"),
                                 (rectify, (None, *RECTIFIERS), "--rectify")):
        if value not in known:
            raise UserError(f"unknown {option} '{value}': use {', '.join(k for k in known if k)}")
    check_image_size(encoder, height, width)
    options = copy.deepcopy(sizes[size])
    return Assembly(encoder=encoder, encoder_options=options, sequence=sequence,
                    sequence_options=_sequence_options(sequence, options["dim"], shortcut), decoder=decoder,
                    decoder_options=_decoder_options(decoder, max_length), rectify=rectify,
                    in_channels=in_channels, height=height, width=width)


def encoder_size(assembly: Assembly) -> str | None:
    """The size name whose options the assembly's encoder has, or None."""
    for name, options in ENCODER_SIZES[assembly.encoder].items():
        if options == assembly.encoder_options:
            return name
    return None


def from_config(config: dict, where: str) -> Assembly:
    """A run's assembly: its 'assembly' entry, or for a run written before assemblies, its CRNN 'model'."""
    if "assembly" in config:
        return Assembly.from_dict(config["assembly"], where)
    model, image = config.get("model"), config.get("image")
    keys = {"channels", "dim", "hidden", "layers", "in_channels", "height", "dropout", "shortcut"}
    if not (isinstance(model, dict) and set(model) == keys and isinstance(image, dict)):
        raise UserError(f"{where}: config.json has neither an 'assembly' nor a CRNN 'model' entry")
    return Assembly(encoder_options={"channels": list(model["channels"]), "dim": model["dim"]},
                    sequence_options={k: model[k] for k in ("hidden", "layers", "dropout", "shortcut")},
                    decoder="ctc" if config.get("kind") == "recognizer" else None, in_channels=model["in_channels"],
                    height=image["height"], width=image["width"])
