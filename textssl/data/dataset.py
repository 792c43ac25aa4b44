"""Datasets of text images: LMDB samples decoded to fixed-size uint8 tensors, in memory when they fit."""
from __future__ import annotations

import io
import logging
import re
from dataclasses import asdict, dataclass

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from textssl.data.charset import Charset
from textssl.data.lmdb_io import LmdbReader
from textssl.errors import UserError

log = logging.getLogger("textssl")
PRELOAD_LIMIT_BYTES = 4 << 30


@dataclass
class ImageSpec:
    height: int = 32
    width: int = 128
    channels: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def to_tensor(image: Image.Image, spec: ImageSpec) -> torch.Tensor:
    """Resize to spec.height keeping the aspect ratio (at most spec.width), pad right with 0 -> uint8 [C, H, W]."""
    image = image.convert("L" if spec.channels == 1 else "RGB")
    w, h = image.size
    new_w = max(1, min(spec.width, round(w * spec.height / h)))
    image = image.resize((new_w, spec.height), Image.BILINEAR)
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    pixels = pixels.view(spec.height, new_w, spec.channels).permute(2, 0, 1)
    out = torch.zeros(spec.channels, spec.height, spec.width, dtype=torch.uint8)
    out[:, :, :new_w] = pixels
    return out


def image_error(exc: Exception) -> str:
    """PIL's complaint about an image, on one line and without the repr of the in-memory file."""
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", " ".join(str(exc).split()))
    return f"{exc.__class__.__name__}: {text[:120]}" if text else exc.__class__.__name__


def decode_image(data: bytes, spec: ImageSpec, source: str) -> torch.Tensor:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return to_tensor(image, spec)
    except Exception as exc:  # PIL raises many types for broken files
        raise UserError(f"{source}: cannot decode image ({image_error(exc)})") from None


class LmdbTextDataset(Dataset):
    """Samples of one or more LMDBs: (uint8 image [C, H, W], label; '' when unlabeled).

    With ``labeled``, rows with an empty label, characters outside the charset or more CTC frames
    than ``max_frames`` are left out with one warning line; ``num_labels`` keeps a seeded random
    subset of that many rows.
    """

    def __init__(self, paths: str | list[str], spec: ImageSpec, *, charset: Charset | None = None,
                 labeled: bool = False, num_labels: int | None = None, seed: int = 0,
                 max_frames: int | None = None):
        paths = [paths] if isinstance(paths, str) else list(paths)
        self.spec = spec
        self.readers = [LmdbReader(p) for p in paths]
        self.rows: list[tuple[int, int]] = []
        self.labels: list[str] = []
        for r, reader in enumerate(self.readers):
            if labeled and not reader.has_labels:
                raise UserError(f"{paths[r]}: has no labels (label-000000001 missing); a labeled LMDB is needed here")
            rows = [(r, i) for i in range(len(reader))]
            labels = [reader.label(i) or "" for i in range(len(reader))] if labeled else [""] * len(rows)
            if labeled:
                rows, labels = _valid_rows(paths[r], rows, labels, charset, max_frames)
            self.rows += rows
            self.labels += labels
        if num_labels is not None:
            if num_labels > len(self.rows):
                raise UserError(f"--num-labels {num_labels} is more than the {len(self.rows)} usable labeled samples")
            keep = torch.randperm(len(self.rows), generator=torch.Generator().manual_seed(seed))[:num_labels]
            self.rows = [self.rows[i] for i in keep.tolist()]
            self.labels = [self.labels[i] for i in keep.tolist()]
        if not self.rows:
            raise UserError(f"{', '.join(paths)}: no usable samples")
        self.reported: set[int] = set()  # undecodable rows already warned about by this process

    def __len__(self) -> int:
        return len(self.rows)

    def key(self, index: int) -> str:
        r, i = self.rows[index]
        return f"{self.readers[r].path}:image-{i + 1:09d}"

    def __getitem__(self, index: int):
        r, i = self.rows[index]
        try:
            return decode_image(self.readers[r].image_bytes(i), self.spec, self.key(index)), self.labels[index]
        except UserError as exc:
            if index not in self.reported:
                self.reported.add(index)
                log.warning("skipped %s", exc)
            return None


def ctc_frames(text: str) -> int:
    """Frames CTC needs to emit ``text``: one per character plus a blank between repeated ones."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:]))


def _label_problem(text: str, charset: Charset | None, max_frames: int | None) -> str:
    if not text:
        return "empty label"
    if charset and (invalid := charset.invalid_chars(text)):
        return f"{invalid!r} outside charset '{charset.name}'"
    if max_frames and (frames := ctc_frames(text)) > max_frames:
        return f"needs {frames} CTC frames, the model has {max_frames}"
    return ""


def _valid_rows(path, rows, labels, charset, max_frames):
    problems = [_label_problem(text, charset, max_frames) for text in labels]
    bad = [i for i, problem in enumerate(problems) if problem]
    if bad:
        log.warning("%s: skipped %d labeled samples with an empty, out-of-charset or too long label "
                    "(first: label-%09d, %s)", path, len(bad), rows[bad[0]][1] + 1, problems[bad[0]])
        rows = [row for row, problem in zip(rows, problems) if not problem]
        labels = [text for text, problem in zip(labels, problems) if not problem]
    return rows, labels


def collate(samples):
    """(image, label) samples -> (uint8 [B, C, H, W], list of labels); undecodable samples (None) dropped."""
    samples = [s for s in samples if s is not None]
    if not samples:
        return None
    return torch.stack([s[0] for s in samples]), [s[1] for s in samples]


class InMemoryDataset(Dataset):
    """Decoded images held as one uint8 tensor; a DataLoader fetches whole batches by index."""

    def __init__(self, images: torch.Tensor, labels: list[str]):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices):
        return self.images[indices], [self.labels[i] for i in indices]


def preload(dataset: LmdbTextDataset, workers: int = 2) -> InMemoryDataset:
    """Decode every sample once (in parallel); undecodable ones are skipped with a warning."""
    workers = workers if len(dataset) > 4096 else 0  # starting worker processes costs more than small sets
    loader = DataLoader(dataset, batch_size=256, num_workers=workers, collate_fn=collate)
    images, labels = [], []
    for batch in loader:
        if batch is not None:
            images.append(batch[0])
            labels += batch[1]
    if not labels:
        raise UserError(f"{dataset.readers[0].path}: no decodable images")
    return InMemoryDataset(torch.cat(images), labels)


def make_loader(dataset: LmdbTextDataset, batch_size: int, *, shuffle: bool, drop_last: bool = False,
                workers: int = 2, in_memory: bool | None = None) -> DataLoader:
    """A DataLoader of (uint8 images, labels) batches; small datasets are decoded once into memory."""
    spec = dataset.spec
    if in_memory is None:
        in_memory = len(dataset) * spec.channels * spec.height * spec.width < PRELOAD_LIMIT_BYTES
    drop_last = drop_last and len(dataset) >= batch_size
    if in_memory:
        return DataLoader(preload(dataset, workers), batch_size=batch_size, shuffle=shuffle,
                          drop_last=drop_last, collate_fn=lambda batch: batch)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=workers,
                      collate_fn=collate, persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())
