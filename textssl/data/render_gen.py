"""Synthetic printed text lines: random strings drawn in TrueType fonts on paper, written as LMDB or
as a folder of PNG files with a gt.txt.

Each line has its own width (its text's length and font), margins, paper and ink grey levels, a
slight tilt, blur and noise; with ``invert`` some lines are light text on a dark ground. Sample
``i`` depends only on ``(seed, i)``, whatever the number of workers. The fonts are the ones that
matplotlib ships (DejaVu, STIX, Computer Modern), named by family, or TrueType files.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from textssl.data.charset import Charset
from textssl.data.lmdb_io import write_lmdb
from textssl.errors import UserError

FONT_FAMILIES = {
    "sans": ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique"),
    "serif": ("DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic"),
    "mono": ("DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique"),
    "stix": ("STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta"),
    "cm": ("cmr10", "cmss10", "cmtt10", "cmb10", "cmti10"),
}
CHUNK_SIZE = 64


@dataclass(frozen=True)
class LineStyle:
    chars: str
    min_len: int
    max_len: int
    height: int
    fonts: tuple[str, ...]  # TrueType file paths
    invert: float  # probability of light text on a dark ground


def font_files(spec: str) -> tuple[str, ...]:
    """'sans,serif' (families of FONT_FAMILIES) or TrueType paths, comma-separated -> font file paths."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    files = []
    for name in (part.strip() for part in spec.split(",") if part.strip()):
        if name in FONT_FAMILIES:
            files += [str(folder / f"{face}.ttf") for face in FONT_FAMILIES[name]]
        elif Path(name).is_file():
            files.append(name)
        else:
            raise UserError(f"--fonts: {name!r} is neither a font family ({', '.join(FONT_FAMILIES)}) nor a font file")
    if not files:
        raise UserError("--fonts: no font given")
    for path in files:
        try:
            ImageFont.truetype(path, 12)
        except OSError:
            raise UserError(f"--fonts: {path} is not a TrueType font") from None
    return tuple(files)


def render_lines(out, count: int, *, labeled: bool, seed: int = 0, charset: str | Charset = "lower36",
                 min_len: int = 3, max_len: int = 12, height: int = 32, fonts: str = "sans,serif,stix",
                 invert: float = 0.0, folder: bool = False, workers: int | None = None,
                 progress: bool = True) -> dict:
    """Write ``count`` grey text-line images to the LMDB ``out`` (labels only when ``labeled``), or with
    ``folder`` to ``out/images/*.png`` and, when ``labeled``, ``out/gt.txt`` (``path<TAB>label``)."""
    if isinstance(charset, str):
        charset = Charset.from_spec(charset)
    if count < 1:
        raise UserError(f"--count must be at least 1, got {count}")
    if min_len < 1 or max_len < min_len:
        raise UserError(f"text length range must satisfy 1 <= min_len <= max_len, got {min_len}..{max_len}")
    if height < 16:
        raise UserError(f"--height must be at least 16 pixels, got {height}")
    if not 0.0 <= invert <= 1.0:
        raise UserError(f"--invert must be a probability in [0, 1], got {invert}")
    style = LineStyle(charset.chars, min_len, max_len, height, font_files(fonts), invert)
    workers = min(workers or os.cpu_count() or 1, count)
    size = max(1, min(CHUNK_SIZE, -(-count // (4 * workers))))
    chunks = [(seed, start, min(start + size, count)) for start in range(0, count, size)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers, initializer=_init_worker, initargs=(style,)) as pool:
        rendered = (sample for chunk in pool.imap(_render_chunk, chunks) for sample in chunk)
        if folder:
            written = _write_folder(Path(out), rendered, labeled, count, progress)
        else:
            written = write_lmdb(out, ((image, text if labeled else None) for image, text in rendered), total=count,
                                 progress=progress, charset=charset.chars if labeled else None)
    seconds = time.perf_counter() - started
    return {"count": written, "seconds": round(seconds, 3), "images_per_second": round(written / seconds, 1),
            "path": os.path.abspath(os.fspath(out))}


def _write_folder(out: Path, samples, labeled: bool, count: int, progress: bool) -> int:
    from tqdm import tqdm

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"output directory is not empty: {out}")
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (image, text) in enumerate(tqdm(samples, total=count, unit="img", disable=not progress, desc="writing")):
        name = f"images/{i:07d}.png"
        (out / name).write_bytes(image)
        lines.append(f"{name}\t{text}\n")
    if labeled:
        (out / "gt.txt").write_text("".join(lines), encoding="utf-8")
    return len(lines)


def render_line(style: LineStyle, seed: int, index: int) -> tuple[bytes, str]:
    """PNG bytes and text of sample ``index``; a pure function of its arguments."""
    rng = random.Random(f"textssl-render:{seed}:{index}")  # str seeds are hashed with SHA-512: stable
    text = "".join(rng.choice(style.chars) for _ in range(rng.randint(style.min_len, style.max_len)))
    font = _font(rng.choice(style.fonts), round(style.height * rng.uniform(0.55, 0.8)))
    left, top, right, bottom = font.getbbox(text)
    margins = rng.randint(1, style.height // 3), rng.randint(1, style.height // 3)
    width = right - left + sum(margins)
    paper, ink = rng.uniform(170, 255), rng.uniform(0, 90)
    if rng.random() < style.invert:
        paper, ink = 255 - paper, 255 - ink
    image = Image.new("L", (width, style.height), round(paper))
    y = (style.height - (bottom - top)) / 2 - top + rng.uniform(-0.1, 0.1) * style.height
    ImageDraw.Draw(image).text((margins[0] - left, y), text, fill=round(ink), font=font)
    image = image.rotate(rng.uniform(-1.5, 1.5), resample=Image.BILINEAR, fillcolor=round(paper))
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    noise = np.random.default_rng(rng.getrandbits(64))
    pixels = np.asarray(image, dtype=np.float32)
    pixels += np.linspace(0, rng.uniform(-30, 30), width, dtype=np.float32)[None, :]  # uneven light
    pixels += noise.normal(0, rng.uniform(0, 10), pixels.shape).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), text


_FONTS: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}
_style: LineStyle | None = None


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    if (path, size) not in _FONTS:
        _FONTS[path, size] = ImageFont.truetype(path, size)
    return _FONTS[path, size]


def _init_worker(style: LineStyle) -> None:
    global _style
    _style = style


def _render_chunk(chunk: tuple[int, int, int]) -> list[tuple[bytes, str]]:
    seed, start, stop = chunk
    return [render_line(_style, seed, i) for i in range(start, stop)]
