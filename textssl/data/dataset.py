"""Datasets of text images: LMDB samples decoded to fixed-size uint8 tensors, in memory when they fit.

A sample is (image uint8 [C, H, W], content width, label). Images are resized to the height keeping
their aspect ratio and padded on the right with their own background, the median of their border
pixels, so that padding adds no edge that a model could learn from; the content width says which
columns are the image's own (SSL leaves the frames beyond it out of its instances).
"""
from __future__ import annotations

import copy
import io
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from textssl.data.charset import Charset
from textssl.data.images import image_error
from textssl.data.lmdb_io import LmdbReader
from textssl.errors import UserError

log = logging.getLogger("textssl")
PRELOAD_LIMIT_BYTES = 4 << 30
PROBE_SIZE = 256  # images decoded up front of a streamed dataset, to refuse one that is mostly undecodable


@dataclass
class ImageSpec:
    height: int = 32
    width: int = 128
    channels: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


class Batch(NamedTuple):
    images: torch.Tensor  # uint8 [B, C, H, W]
    widths: torch.Tensor  # int64 [B], content width of each image in pixels
    labels: list[str]  # '' for unlabeled samples


def to_tensor(image: Image.Image, spec: ImageSpec) -> tuple[torch.Tensor, int]:
    """Resize to spec.height keeping the aspect ratio (at most spec.width) and pad on the right with the
    median of the resized image's border pixels -> (uint8 [C, H, W], content width)."""
    image = image.convert("L" if spec.channels == 1 else "RGB")
    w, h = image.size
    new_w = max(1, min(spec.width, round(w * spec.height / h)))
    image = image.resize((new_w, spec.height), Image.BILINEAR)
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    pixels = pixels.view(spec.height, new_w, spec.channels).permute(2, 0, 1)
    if new_w == spec.width:
        return pixels.contiguous(), new_w
    border = torch.cat([pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]], dim=1)  # [C, 2W + 2H]
    out = border.median(dim=1).values.view(-1, 1, 1).repeat(1, spec.height, spec.width)
    out[:, :, :new_w] = pixels
    return out, new_w


def decode_image(data: bytes, spec: ImageSpec, source: str) -> tuple[torch.Tensor, int]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return to_tensor(image, spec)
    except Exception as exc:  # PIL raises many types for broken files
        raise UserError(f"{source}: cannot decode image ({image_error(exc)})") from None


def refuse_mostly_skipped(path: str, total: int, kept: int, first: str, allow_skipped: bool) -> None:
    """A UserError when fewer than half of a set's ``total`` rows are usable, unless ``allow_skipped``."""
    if kept * 2 < total and not allow_skipped:
        raise UserError(f"{path}: only {kept} of its {total} rows can be used (first left out: {first}); "
                        f"fix the data (or --charset), or pass --allow-skipped")


class LmdbTextDataset(Dataset):
    """Samples of one or more LMDBs: (uint8 image [C, H, W], content width, label; '' when unlabeled).

    With ``labeled``, rows with an empty label, characters outside the charset or a label that
    ``misfit`` (the recognizer's) finds it cannot emit are left out with one warning line; ``num_labels`` keeps a seeded random
    subset of that many rows. An LMDB of which fewer than half of the rows can be used (labels left
    out, or images that cannot be decoded among a probe of them) is refused unless ``allow_skipped``.
    The index is two integer arrays, so memory stays flat in the number of samples.
    """

    def __init__(self, paths: str | list[str], spec: ImageSpec, *, charset: Charset | None = None,
                 labeled: bool = False, num_labels: int | None = None, seed: int = 0,
                 misfit: Callable[[str], str] | None = None, allow_skipped: bool = False):
        paths = [paths] if isinstance(paths, str) else list(paths)
        self.spec, self.allow_skipped = spec, allow_skipped
        self.readers = [LmdbReader(p) for p in paths]
        sources, rows, self.labels = [], [], [] if labeled else None
        self.left_out: list[tuple[float, str]] = []  # per LMDB: (share of rows with a usable label, first reason)
        for r, reader in enumerate(self.readers):
            if labeled and not reader.has_labels:
                raise UserError(f"{paths[r]}: has no labels (label-000000001 missing); a labeled LMDB is needed here")
            kept, first = np.arange(len(reader), dtype=np.int64), ""
            if labeled:
                labels = [reader.label(i) or "" for i in range(len(reader))]
                kept, labels, first = _valid_rows(paths[r], labels, charset, misfit, allow_skipped)
                self.labels += labels
            self.left_out.append((len(kept) / max(1, len(reader)), first))
            sources.append(np.full(len(kept), r, dtype=np.int32))
            rows.append(kept)
        self.sources, self.samples = np.concatenate(sources), np.concatenate(rows)
        if num_labels is not None:
            if num_labels > len(self.samples):
                raise UserError(f"--num-labels {num_labels} is more than the {len(self.samples)} usable labeled "
                                f"samples")
            keep = torch.randperm(len(self.samples), generator=torch.Generator().manual_seed(seed))[:num_labels]
            self.sources, self.samples = self.sources[keep.numpy()], self.samples[keep.numpy()]
            self.labels = [self.labels[i] for i in keep.tolist()]
        if not len(self.samples):
            raise UserError(f"{', '.join(paths)}: no usable samples")
        self.reported: set[int] = set()  # undecodable rows already warned about by this process

    def __len__(self) -> int:
        return len(self.samples)

    def key(self, index: int) -> str:
        return f"{self.readers[self.sources[index]].path}:image-{self.samples[index] + 1:09d}"

    def label(self, index: int) -> str:
        return self.labels[index] if self.labels is not None else ""

    def decoded(self, index: int) -> tuple[torch.Tensor, int]:
        """(image, content width) of sample ``index``, or a UserError naming its key."""
        reader = self.readers[self.sources[index]]
        return decode_image(reader.image_bytes(int(self.samples[index])), self.spec, self.key(index))

    def __getitem__(self, index: int):
        try:
            image, width = self.decoded(index)
        except UserError as exc:
            if index not in self.reported:
                self.reported.add(index)
                log.warning("skipped %s", exc)
            return None
        return image, width, self.label(index)

    def relabeled(self, indices: list[int], labels: list[str]) -> LmdbTextDataset:
        """The samples at ``indices`` with these ``labels`` (e.g. pseudo-labels of unlabeled images)."""
        subset = copy.copy(self)
        subset.sources, subset.samples = self.sources[indices], self.samples[indices]
        subset.labels, subset.reported = list(labels), set()
        return subset

    def joined(self, other: LmdbTextDataset) -> LmdbTextDataset:
        """The samples of both datasets (of the same spec), these first."""
        both = copy.copy(self)
        both.readers, both.left_out = self.readers + other.readers, self.left_out + other.left_out
        both.sources = np.concatenate([self.sources, other.sources + len(self.readers)])
        both.samples = np.concatenate([self.samples, other.samples])
        both.labels = [self.label(i) for i in range(len(self))] + [other.label(i) for i in range(len(other))]
        both.reported = set()
        return both

    def refuse_undecodable(self, rows: np.ndarray, decoded: np.ndarray, first: str) -> None:
        """Refuse, per LMDB, a dataset of which fewer than half of the rows can be used: those with a usable
        label, times the share of the ``rows`` tried that decode (``decoded``)."""
        for r, reader in enumerate(self.readers):
            mine = self.sources[rows] == r
            if mine.any():
                labels_kept, label_reason = self.left_out[r]
                usable = round(labels_kept * decoded[mine].mean() * len(reader))
                refuse_mostly_skipped(reader.path, len(reader), usable, label_reason or first, self.allow_skipped)

    def probe(self, size: int = PROBE_SIZE) -> None:
        """Decode a seeded sample of rows and refuse the dataset if fewer than half of them decode."""
        rows = np.sort(np.random.default_rng(0).permutation(len(self))[:size])
        decoded, first = np.zeros(len(rows), dtype=bool), ""
        for k, i in enumerate(rows.tolist()):
            try:
                self.decoded(i)
                decoded[k] = True
            except UserError as exc:
                first = first or str(exc)
        self.refuse_undecodable(rows, decoded, first)


def _label_problem(text: str, charset: Charset | None, misfit: Callable[[str], str] | None) -> str:
    if not text:
        return "empty label"
    if charset and (invalid := charset.invalid_chars(text)):
        return f"{invalid!r} outside charset '{charset.name}'"
    return misfit(text) if misfit else ""


def _valid_rows(path, labels, charset, misfit, allow_skipped) -> tuple[np.ndarray, list[str], str]:
    """(rows with a usable label, their labels, the first reason a row was left out or "")."""
    problems = [_label_problem(text, charset, misfit) for text in labels]
    bad = [i for i, problem in enumerate(problems) if problem]
    first = f"label-{bad[0] + 1:09d}, {problems[bad[0]]}" if bad else ""
    if bad:
        refuse_mostly_skipped(path, len(labels), len(labels) - len(bad), first, allow_skipped)
        log.warning("%s: skipped %d labeled samples with an empty, out-of-charset or too long label (first: %s)",
                    path, len(bad), first)
    kept = np.array([i for i, problem in enumerate(problems) if not problem], dtype=np.int64)
    return kept, [labels[i] for i in kept.tolist()], first


def collate(samples) -> Batch | None:
    """(image, width, label) samples -> a Batch; undecodable samples (None) dropped."""
    samples = [s for s in samples if s is not None]
    if not samples:
        return None
    images, widths, labels = zip(*samples)
    return Batch(torch.stack(images), torch.tensor(widths), list(labels))


class InMemoryDataset(Dataset):
    """Decoded images held as one uint8 tensor; a DataLoader fetches whole batches by index."""

    def __init__(self, images: torch.Tensor, widths: torch.Tensor, labels: list[str]):
        self.images, self.widths, self.labels = images, widths, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices):
        return Batch(self.images[indices], self.widths[indices], [self.labels[i] for i in indices])


def _decoded_and_which(samples) -> tuple[Batch | None, list[bool]]:
    """A worker's batch as one Batch (one shared tensor, not one per image) and which samples decoded."""
    return collate(samples), [s is not None for s in samples]


def preload(dataset: LmdbTextDataset, workers: int = 2) -> InMemoryDataset:
    """Decode every sample once (in parallel); undecodable ones are skipped with a warning, and a
    dataset of which fewer than half decode is refused (see LmdbTextDataset)."""
    workers = workers if len(dataset) > 4096 else 0  # starting worker processes costs more than small sets
    loader = DataLoader(dataset, batch_size=256, num_workers=workers, collate_fn=_decoded_and_which)
    batches, decoded = [], []
    for batch, which in loader:
        decoded += which
        batches += [batch] if batch is not None else []
    decoded = np.array(decoded)
    first = f"{dataset.key(int(np.argmin(decoded)))} cannot be decoded" if not decoded.all() else ""
    dataset.refuse_undecodable(np.arange(len(dataset)), decoded, first)
    if not batches:
        raise UserError(f"{dataset.readers[0].path}: no decodable images")
    return InMemoryDataset(torch.cat([b.images for b in batches]), torch.cat([b.widths for b in batches]),
                           [label for b in batches for label in b.labels])


def make_loader(dataset: LmdbTextDataset, batch_size: int, *, shuffle: bool, drop_last: bool = False,
                workers: int = 2, in_memory: bool | None = None) -> DataLoader:
    """A DataLoader of Batches; datasets below PRELOAD_LIMIT_BYTES decoded are decoded once into memory,
    larger ones stream from the LMDB through ``workers`` processes."""
    spec = dataset.spec
    if in_memory is None:
        in_memory = len(dataset) * spec.channels * spec.height * spec.width < PRELOAD_LIMIT_BYTES
    drop_last = drop_last and len(dataset) >= batch_size
    if in_memory:
        return DataLoader(preload(dataset, workers), batch_size=batch_size, shuffle=shuffle,
                          drop_last=drop_last, collate_fn=lambda batch: batch)
    dataset.probe()
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=workers,
                      collate_fn=collate, persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())
