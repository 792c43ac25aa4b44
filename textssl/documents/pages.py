"""Page LMDB datasets: document images with their class and text-line annotations.

Keys (1-indexed, as the recognition LMDBs of textssl.data.lmdb_io):

- ``image-%09d``: the page's encoded image file (PNG or JPEG bytes). An unlabeled page LMDB holds
  only these and ``num-samples``, so it is also a valid unlabeled recognition LMDB: ``textssl
  pretrain`` reads it as it is.
- ``page-%09d`` (labeled pages): UTF-8 JSON ``{"class": NAME, "lines": [{"points": [[x, y] * 4],
  "text": TEXT, "ignore": BOOL}, ...]}``; points in pixels of the stored image, clockwise from the
  top-left corner; ``ignore`` marks a don't-care region (ICDAR's ``###``).
- ``num-samples``; ``kind`` = ``pages``; ``classes``: UTF-8 JSON list of the class names (a page's
  class may be null when its source had none, e.g. an ICDAR import).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from textssl.data.lmdb_io import LmdbReader, write_records
from textssl.errors import UserError

KIND_KEY, CLASSES_KEY = b"kind", b"classes"
PAGE_KIND = b"pages"
CLASSES = ("invoice", "customs", "generic")  # the generator's


@dataclass
class TextLine:
    points: list[list[float]]  # 4 corners [[x, y], ...], clockwise from the top-left
    text: str
    ignore: bool = False

    def to_dict(self) -> dict:
        return {"points": [[round(float(x), 2), round(float(y), 2)] for x, y in self.points], "text": self.text,
                "ignore": self.ignore}


@dataclass
class Page:
    image: bytes                   # encoded PNG / JPEG
    label: str | None = None       # the document class
    lines: list[TextLine] = field(default_factory=list)
    annotated: bool = True         # False: an unlabeled page (image only)

    def annotation_json(self) -> bytes:
        return json.dumps({"class": self.label, "lines": [line.to_dict() for line in self.lines]},
                          ensure_ascii=False).encode("utf-8")


def write_pages(path, pages: Iterable[Page], *, classes: Iterable[str] = CLASSES, total: int | None = None,
                progress: bool = False) -> int:
    """Write pages to a new page LMDB (atomically, as write_lmdb); all annotated or none; the count."""
    def records():
        annotated = None
        for count, page in enumerate(pages):
            if annotated is None:
                annotated = page.annotated
            elif annotated != page.annotated:
                raise ValueError(f"page {count + 1}: a page dataset is either fully annotated or unlabeled")
            yield {b"image": page.image, b"page": page.annotation_json()} if page.annotated else {b"image": page.image}

    names = json.dumps(list(classes)).encode("utf-8")
    return write_records(path, records(), total=total, progress=progress,
                         metadata=lambda: {KIND_KEY: PAGE_KIND, CLASSES_KEY: names})


class PageReader:
    """Random access to a page LMDB: ``image_bytes(i)``, ``page(i)`` (a Page with its annotation), ``classes``."""

    def __init__(self, path):
        self.reader = LmdbReader(path)
        self.path = self.reader.path
        self.annotated = len(self.reader) > 0 and self.reader.value(b"page-%09d" % 1) is not None
        raw = self.reader.value(CLASSES_KEY)
        try:
            self.classes = tuple(json.loads(raw.decode("utf-8"))) if raw else ()
        except (UnicodeDecodeError, ValueError):
            raise UserError(f"{self.path}: key classes is not a JSON list") from None

    def __len__(self) -> int:
        return len(self.reader)

    def image_bytes(self, index: int) -> bytes:
        return self.reader.image_bytes(index)

    def require_annotations(self, what: str) -> None:
        """One UserError line unless the pages carry annotations (``what`` needs them)."""
        if not self.annotated:
            raise UserError(f"{self.path}: the pages have no annotations (page-* keys), which {what} needs; "
                            "generate them with --labeled or import ICDAR / PaddleOCR labels")

    def page(self, index: int) -> Page:
        key = b"page-%09d" % (index + 1)
        image = self.image_bytes(index)
        raw = self.reader.value(key)
        if raw is None:
            return Page(image, annotated=False)
        try:
            value = json.loads(raw.decode("utf-8"))
            lines = [TextLine([[float(x), float(y)] for x, y in line["points"]], str(line["text"]),
                              bool(line.get("ignore", False))) for line in value["lines"]]
            if any(len(line.points) != 4 for line in lines):
                raise ValueError("a line without 4 points")
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{self.path}: key {key.decode()} is not a page annotation ({exc})") from None
        return Page(image, value.get("class"), lines)
