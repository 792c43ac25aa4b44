"""Import a folder of labeled images (``gt.txt``: ``relative/path<TAB>label``) into an LMDB."""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

from PIL import Image

from textssl.data.charset import Charset
from textssl.data.dataset import image_error
from textssl.data.lmdb_io import write_lmdb
from textssl.errors import UserError


@dataclass
class ImportReport:
    kept: int
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (1-based line number, reason)


def import_labeled_folder(out, images_dir, labels_file, charset: Charset, *, progress: bool = False) -> ImportReport:
    """Copy the images named in ``labels_file`` (original file bytes) and their labels to ``out``.

    Rows that are malformed, name a missing or unreadable image, or have an empty label or
    characters outside ``charset`` are skipped and reported with their line number.
    """
    images_dir, labels_file = os.fspath(images_dir), os.fspath(labels_file)
    if not os.path.isdir(images_dir):
        raise UserError(f"images directory not found: {images_dir}")
    if not os.path.isfile(labels_file):
        raise UserError(f"labels file not found: {labels_file}")
    report = ImportReport(kept=0)
    imported_at: dict[str, int] = {}  # image path -> line number

    def good_rows():
        for number, line in _read_lines(labels_file):
            sample, reason = _check_row(line, images_dir, charset)
            image = None if reason else os.path.normpath(line.split("\t", 1)[0])
            if image in imported_at:
                reason = f"{image} already imported from line {imported_at[image]}"
            elif image:
                imported_at[image] = number
            if reason:
                report.skipped.append((number, reason))
                continue
            report.kept += 1
            yield sample
        if report.kept == 0:  # raised inside write_lmdb, which then removes its partial output
            first = f"; line {report.skipped[0][0]}: {report.skipped[0][1]}" if report.skipped else ""
            raise UserError(f"no usable rows in {labels_file} ({len(report.skipped)} skipped{first})")

    write_lmdb(out, good_rows(), progress=progress)
    return report


def _read_lines(labels_file: str):
    """(line number, text) of every non-blank line; undecodable lines come back as None."""
    try:
        with open(labels_file, "rb") as f:
            for number, raw in enumerate(f, 1):
                raw = raw.rstrip(b"\r\n")
                if number == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")
                if not raw.strip():
                    continue
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield number, None
    except OSError as e:
        raise UserError(f"cannot read labels file {labels_file}: {e.strerror}") from None


def _check_row(line: str | None, images_dir: str, charset: Charset) -> tuple[tuple[bytes, str] | None, str]:
    """Return ((image bytes, label), "") for a good row, or (None, reason) for a bad one."""
    if line is None:
        return None, "not UTF-8 text"
    if "\t" not in line:
        return None, "malformed line: expected 'path<TAB>label'"
    relative, label = line.split("\t", 1)
    if not relative.strip():
        return None, "malformed line: empty image path"
    if not label:
        return None, f"empty label for {relative}"
    bad = charset.invalid_chars(label)
    if bad:
        return None, f"label {label!r} has characters outside the charset {charset.name!r}: {bad!r}"
    path = os.path.join(images_dir, relative)
    if not os.path.isfile(path):
        return None, f"image not found: {relative}"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return None, f"cannot read image {relative}: {e.strerror}"
    problem = _image_problem(data)
    if problem:
        return None, f"unreadable image {relative}: {problem}"
    return (data, label), ""


def _image_problem(data: bytes) -> str:
    """Why PIL cannot decode ``data``, or "" when it can."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return image_error(e)
    return ""
