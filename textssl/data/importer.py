"""Import a folder of images into an LMDB: every image under it (unlabeled), or the images a ``gt.txt``
names with their labels (``relative/path<TAB>label``). The files' bytes are stored as they are;
images are read and checked in parallel worker processes."""
from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from textssl.data.charset import Charset
from textssl.data.images import IMAGE_SUFFIXES, image_problem
from textssl.data.lmdb_io import write_lmdb
from textssl.errors import UserError

CHUNK = 64  # files per task of a worker process


@dataclass
class ImportReport:
    kept: int
    skipped: list[tuple[int | str, str]] = field(default_factory=list)  # (line number or file, reason)
    seconds: float = 0.0
    charset: str = ""  # the characters stored with a labeled import

    @property
    def images_per_second(self) -> float:
        return (self.kept + len(self.skipped)) / self.seconds if self.seconds > 0 else 0.0


def import_unlabeled_folder(out, images_dir, *, workers: int | None = None, progress: bool = False) -> ImportReport:
    """Copy every image file under ``images_dir`` (recursively, by suffix: IMAGE_SUFFIXES) to ``out``,
    in the order of their sorted paths; files that cannot be read or decoded are skipped and reported."""
    images_dir = _existing_folder(images_dir)
    paths = sorted(os.path.relpath(os.path.join(root, name), images_dir)
                   for root, _, names in os.walk(images_dir) for name in names
                   if name.lower().endswith(IMAGE_SUFFIXES))
    if not paths:
        raise UserError(f"{images_dir}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it or its subfolders")
    report = ImportReport(kept=0)

    def samples(read: Iterator[tuple[str, bytes | None, str]]):
        for relative, data, reason in read:
            if reason:  # the reason names the file, which its line already does
                report.skipped.append((relative, reason.replace(f" {relative}:", ":", 1)))
                continue
            report.kept += 1
            yield data, None
        _refuse_empty(report, images_dir)

    return _run(out, paths, images_dir, samples, report, workers, progress, None)


def import_labeled_folder(out, images_dir, labels_file, charset: Charset | None = None, *,
                          workers: int | None = None, progress: bool = False) -> ImportReport:
    """Copy the images named in ``labels_file`` and their labels to ``out``, with the charset: ``charset``,
    or the characters of the labels kept. Rows that are malformed, name a path outside ``images_dir``, a
    missing or unreadable image, an image named before, or have an empty label or characters outside
    ``charset`` are skipped and reported with their line number."""
    images_dir = _existing_folder(images_dir)
    labels_file = os.fspath(labels_file)
    if not os.path.isfile(labels_file):
        raise UserError(f"labels file not found: {labels_file}")
    report, rows, imported_at = ImportReport(kept=0), [], {}
    for number, line in _read_lines(labels_file):
        relative, label, reason = _parse_row(line, charset)
        if not reason and relative in imported_at:
            reason = f"{relative} already imported from line {imported_at[relative]}"
        if reason:
            report.skipped.append((number, reason))
        else:
            imported_at[relative] = number
            rows.append((number, relative, label))
    labels = {relative: (number, label) for number, relative, label in rows}
    chars: set[str] = set()

    def samples(read: Iterator[tuple[str, bytes | None, str]]):
        for relative, data, reason in read:
            number, label = labels[relative]
            if reason:
                report.skipped.append((number, reason))
                continue
            report.kept += 1
            chars.update(label)
            yield data, label
        report.skipped.sort(key=lambda item: item[0])
        _refuse_empty(report, labels_file, rows=True)

    def stored_charset() -> str:
        report.charset = charset.chars if charset else "".join(sorted(chars))
        return report.charset

    return _run(out, [relative for _, relative, _ in rows], images_dir, samples, report, workers, progress,
                stored_charset)


def _run(out, paths: list[str], images_dir: str, samples: Callable, report: ImportReport, workers: int | None,
         progress: bool, charset: Callable[[], str] | None) -> ImportReport:
    started = time.perf_counter()
    workers = max(1, min(workers or os.cpu_count() or 1, -(-len(paths) // CHUNK)))
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    if workers == 1:
        read = (item for chunk in chunks for item in _read_chunk(images_dir, chunk))
        write_lmdb(out, samples(read), total=len(paths), progress=progress, charset=charset)
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            read = (item for chunk in pool.imap(_read_chunk_task, [(images_dir, c) for c in chunks]) for item in chunk)
            write_lmdb(out, samples(read), total=len(paths), progress=progress, charset=charset)
    report.seconds = time.perf_counter() - started
    return report


def _existing_folder(images_dir) -> str:
    images_dir = os.fspath(images_dir)
    if not os.path.isdir(images_dir):
        raise UserError(f"images directory not found: {images_dir}")
    return images_dir


def _refuse_empty(report: ImportReport, source: str, rows: bool = False) -> None:
    if report.kept == 0:  # raised inside write_lmdb, which then removes its partial output
        where, reason = report.skipped[0] if report.skipped else ("", "")
        first = f"; {'line ' if rows else ''}{where}: {reason}" if report.skipped else ""
        raise UserError(f"no usable {'rows' if rows else 'images'} in {source} ({len(report.skipped)} skipped{first})")


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


def _parse_row(line: str | None, charset: Charset | None) -> tuple[str, str, str]:
    """(normalised relative path, label, "") of a good row, or ("", "", reason)."""
    if line is None:
        return "", "", "not UTF-8 text"
    if "\t" not in line:
        return "", "", "malformed line: expected 'path<TAB>label'"
    relative, label = line.split("\t", 1)
    if not relative.strip():
        return "", "", "malformed line: empty image path"
    normal = os.path.normpath(relative)
    if os.path.isabs(relative) or normal == ".." or normal.startswith(".." + os.sep):
        return "", "", f"path leaves --images: {relative}"
    if not label:
        return "", "", f"empty label for {relative}"
    bad = charset.invalid_chars(label) if charset else ""
    if bad:
        return "", "", f"label {label!r} has characters outside the charset {charset.name!r}: {bad!r}"
    return normal, label, ""


def _read_chunk_task(task: tuple[str, list[str]]) -> list[tuple[str, bytes | None, str]]:
    return _read_chunk(*task)


def _read_chunk(images_dir: str, paths: list[str]) -> list[tuple[str, bytes | None, str]]:
    """(relative path, file bytes or None, reason it cannot be used or "") per file."""
    out = []
    for relative in paths:
        path = os.path.join(images_dir, relative)
        if not os.path.isfile(path):
            out.append((relative, None, f"image not found: {relative}"))
            continue
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            out.append((relative, None, f"cannot read image {relative}: {e.strerror}"))
            continue
        problem = image_problem(data)
        out.append((relative, None, f"unreadable image {relative}: {problem}") if problem else (relative, data, ""))
    return out

