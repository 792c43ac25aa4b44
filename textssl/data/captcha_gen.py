"""Synthetic captcha datasets drawn with the python-``captcha`` package, written as LMDB.

Sample ``i`` depends only on ``(seed, i)``: its text and every random draw of the captcha
renderer come from one ``random.Random`` seeded with both, whatever the number of workers.
python-captcha (0.5 and later) draws from the ``secrets`` module, which cannot be seeded, so
while rendering, ``captcha.image.secrets`` is swapped for an object with the same three
methods backed by that ``random.Random``.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass

import captcha.image
from captcha.image import ImageCaptcha
from PIL import Image
from PIL.Image import ImagePointHandler

from textssl.data.charset import Charset
from textssl.data.lmdb_io import write_lmdb
from textssl.errors import UserError

CHUNK_SIZE = 64  # samples per pool task at most; small runs use smaller ones to feed every worker
PNG_COMPRESS_LEVEL = 1  # 128x48 grey: 0.45 ms and 2.8 kB per image; level 6: 0.56 ms, 2.5 kB
FONT_SIZE_RATIOS = (0.7, 0.83, 0.93)  # python-captcha's own (42, 50, 56) for its 60 px height


@dataclass(frozen=True)
class CaptchaStyle:
    chars: str
    min_len: int
    max_len: int
    width: int
    height: int
    font_sizes: tuple[int, ...]
    render_size: tuple[int, int]  # python-captcha draws at this size; the image is then resized to width x height


def default_font_sizes(height: int) -> tuple[int, ...]:
    return tuple(max(8, round(height * r)) for r in FONT_SIZE_RATIOS)


def generate_captchas(
    out,
    count: int,
    *,
    labeled: bool,
    seed: int = 0,
    charset: str | Charset = "captcha",
    min_len: int = 4,
    max_len: int = 5,
    width: int = 128,
    height: int = 32,
    font_sizes: tuple[int, ...] | None = None,
    render_size: tuple[int, int] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Write ``count`` grey PNG captchas to the LMDB ``out``; labels only when ``labeled``.

    By default python-captcha draws at ``width`` x ``height`` with fonts scaled to the height;
    with ``render_size`` (python-captcha's own is 160x60) it draws at that size, fonts scaled to
    its height, and the image is resized to ``width`` x ``height``: the same captchas as a user's
    python-captcha images downscaled to the recognizer's input, thinner strokes and noise.
    """
    if isinstance(charset, str):
        charset = Charset.from_spec(charset)
    _check_options(count, min_len, max_len, width, height, workers, render_size)
    render_size = tuple(render_size) if render_size else (width, height)
    style = CaptchaStyle(charset.chars, min_len, max_len, width, height,
                         tuple(font_sizes) if font_sizes else default_font_sizes(render_size[1]), render_size)
    workers = min(workers or os.cpu_count() or 1, count)
    size = max(1, min(CHUNK_SIZE, -(-count // (4 * workers))))
    chunks = [(seed, start, min(start + size, count)) for start in range(0, count, size)]

    def samples(rendered_chunks):
        for chunk in rendered_chunks:
            for image, text in chunk:
                yield image, text if labeled else None

    stored_charset = charset.chars if labeled else None
    started = time.perf_counter()
    if workers == 1:
        _init_worker(style)
        written = write_lmdb(out, samples(map(_render_chunk, chunks)), total=count, progress=progress,
                             charset=stored_charset)
    else:
        with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(style,)) as pool:
            rendered = pool.imap(_render_chunk, chunks)
            written = write_lmdb(out, samples(rendered), total=count, progress=progress, charset=stored_charset)
    seconds = time.perf_counter() - started
    return {
        "count": written,
        "seconds": round(seconds, 3),
        "images_per_second": round(written / seconds, 1) if seconds > 0 else 0.0,
        "path": os.path.abspath(os.fspath(out)),
    }


def render_captcha(style: CaptchaStyle, seed: int, index: int) -> tuple[bytes, str]:
    """PNG bytes and text of sample ``index``; a pure function of its arguments."""
    _init_worker(style)
    with _seeded_captcha_module():
        return _render_one(seed, index)


def parse_size(text) -> tuple[int, int] | None:
    """'160x60' -> (160, 60); None where ``text`` is not WIDTHxHEIGHT."""
    width, _, height = str(text).partition("x")
    return (int(width), int(height)) if width.isdigit() and height.isdigit() else None


def _check_options(count, min_len, max_len, width, height, workers, render_size) -> None:
    if count < 1:
        raise UserError(f"--count must be at least 1, got {count}")
    if min_len < 1 or max_len < min_len:
        raise UserError(f"text length range must satisfy 1 <= min_len <= max_len, got {min_len}..{max_len}")
    if width < 16 or height < 16:
        raise UserError(f"captcha size must be at least 16x16 pixels, got {width}x{height}")
    if render_size is not None and not (isinstance(render_size, (list, tuple)) and len(render_size) == 2
                                        and all(isinstance(n, int) and n >= 16 for n in render_size)):
        raise UserError(f"--render-size must be a width and a height of at least 16 pixels each, got {render_size!r}")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")


class _SeededSecrets:
    """The part of the ``secrets`` module that python-captcha uses, drawn from a seeded RNG."""

    def __init__(self, rng: random.Random):
        self.randbelow = rng.randrange
        self.randbits = rng.getrandbits
        self.choice = rng.choice


class _PrecomputedLut(ImagePointHandler):
    """``Image.point`` with a table that is validated once instead of on every call."""

    def __init__(self, table):
        self.table = [round(v) for v in table]

    def point(self, im):
        return im._new(im.im.point(self.table, None))


class _Captcha(ImageCaptcha):
    """ImageCaptcha with byte-identical output for the same random draws, about 30% faster.

    A blank glyph inserted between characters is drawn, rotated and warped only to become
    a transparent image of the space's bounding-box size, so that image is returned
    directly; the per-glyph mask lookup table is prepared once.
    """

    lookup_table = _PrecomputedLut(ImageCaptcha.lookup_table)

    def _draw_character(self, c, draw, color):
        if c != " ":
            return super()._draw_character(c, draw, color)
        draws = captcha.image.secrets
        font = draws.choice(self.truefonts)
        _, _, w, h = draw.multiline_textbbox((1, 1), c, font=font)
        # the draws the full path makes (offsets, rotation, warp), so that the random
        # stream and thus every image stay identical to ImageCaptcha's
        draws.randbelow(self.character_offset_dx[1] - self.character_offset_dx[0] + 1)
        draws.randbelow(self.character_offset_dy[1] - self.character_offset_dy[0] + 1)
        for _ in range(7):
            draws.randbits(32)
        return Image.new("RGBA", (int(w), int(h)))


_style: CaptchaStyle | None = None
_captcha: ImageCaptcha | None = None
_rng = random.Random()


def _init_worker(style: CaptchaStyle) -> None:
    global _style, _captcha
    if style != _style:
        _style = style
        _captcha = _Captcha(width=style.render_size[0], height=style.render_size[1], font_sizes=style.font_sizes)


@contextmanager
def _seeded_captcha_module():
    """Route python-captcha's random draws to ``_rng`` (and restore afterwards)."""
    saved = captcha.image.secrets
    captcha.image.secrets = _SeededSecrets(_rng)
    try:
        yield
    finally:
        captcha.image.secrets = saved


def _render_chunk(chunk: tuple[int, int, int]) -> list[tuple[bytes, str]]:
    seed, start, stop = chunk
    with _seeded_captcha_module():
        return [_render_one(seed, i) for i in range(start, stop)]


def _render_one(seed: int, index: int) -> tuple[bytes, str]:
    _rng.seed(f"textssl-captcha:{seed}:{index}")  # str seeds are hashed with SHA-512: stable
    style = _style
    length = _rng.randint(style.min_len, style.max_len)
    text = "".join(_rng.choice(style.chars) for _ in range(length))
    image = _captcha.generate_image(text).convert("L")
    if image.size != (style.width, style.height):
        image = image.resize((style.width, style.height), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue(), text
