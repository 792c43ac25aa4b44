"""Image files: which suffixes count as images, and why PIL cannot decode one (without torch)."""
from __future__ import annotations

import io
import re
import warnings

from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")


def image_error(exc: Exception) -> str:
    """PIL's complaint about an image, on one line and without the repr of the in-memory file."""
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", " ".join(str(exc).split()))
    return f"{exc.__class__.__name__}: {text[:120]}" if text else exc.__class__.__name__


def image_problem(data: bytes) -> str:
    """Why PIL cannot decode ``data`` (a GIF's or TIFF's first frame), or "" when it can."""
    try:
        with warnings.catch_warnings():  # PIL warns about corrupt EXIF before it fails: the reason given is enough
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return image_error(e)
    return ""
