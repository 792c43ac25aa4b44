"""Character sets: the ordered characters a recognizer reads. Each decoder maps them to its own
class ids (textssl.models.decoders)."""
from __future__ import annotations

import os
import string

from textssl.errors import UserError

PRESETS: dict[str, str] = {
    "digits": string.digits,
    "captcha": string.digits + string.ascii_uppercase,
    "lower36": string.digits + string.ascii_lowercase,
    "mixed62": string.digits + string.ascii_lowercase + string.ascii_uppercase,
    "full94": string.printable[:94],
}

CHARS_PREFIX = "chars:"


class Charset:
    """An ordered set of characters."""

    def __init__(self, chars: str, name: str | None = None):
        if not chars:
            raise UserError(f"charset {name or 'custom'!r} is empty")
        seen: set[str] = set()
        for c in chars:
            if c in seen:
                raise UserError(f"charset {name or 'custom'!r} has the character {c!r} more than once")
            seen.add(c)
        self.chars = chars
        self.name = name or "custom"
        self._set = set(chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._set

    def __eq__(self, other) -> bool:
        return isinstance(other, Charset) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Charset(name={self.name!r}, {len(self)} chars)"

    def invalid_chars(self, text: str) -> str:
        """Characters of ``text`` not in the charset, each once, in order of first appearance."""
        return "".join(dict.fromkeys(c for c in text if c not in self._set))

    @classmethod
    def from_spec(cls, spec: str) -> Charset:
        """A preset name, ``chars:XYZ``, or the path of a UTF-8 text file of characters."""
        if spec in PRESETS:
            return cls(PRESETS[spec], name=spec)
        if spec.startswith(CHARS_PREFIX):
            return cls(spec[len(CHARS_PREFIX):], name="custom")
        if os.path.isfile(spec):
            return cls(_read_chars_file(spec), name="custom")
        names = ", ".join(PRESETS)
        raise UserError(f"unknown charset {spec!r}: use {names}, a file path or chars:ABC")


def _read_chars_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise UserError(f"charset file {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise UserError(f"cannot read charset file {path}: {e.strerror}") from None
    text = text.lstrip("\ufeff").replace("\r", "").replace("\n", "")
    if not text:
        raise UserError(f"charset file {path} has no characters")
    try:
        return Charset(text).chars
    except UserError as e:
        raise UserError(f"charset file {path}: {e}") from None
