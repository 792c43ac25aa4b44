"""A run directory: config.json, charset.txt (recognizers), weights as safetensors, metrics.json.

Weights are never pickled, so loading a model never unpickles code. Every file here is written to a
temporary sibling and renamed over its final name, so a crash never leaves a half-written file behind.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from textssl.data.charset import Charset
from textssl.errors import UserError

CONFIG = "config.json"
CHARSET = "charset.txt"
MODEL_WEIGHTS = "model.safetensors"
ENCODER_WEIGHTS = "encoder.safetensors"
METRICS = "metrics.json"


@contextmanager
def replaced_atomically(path: Path):
    """Yields a temporary path to write; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # named after the file the caller asked for, not the temporary one
        exc.filename = str(path)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, obj) -> None:
    with replaced_atomically(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def save_weights(path: Path, state: dict) -> None:
    """Tensors as safetensors (imported here: reading a run's config needs no torch)."""
    from safetensors.torch import save_file

    with replaced_atomically(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))


def save_run(run: Path, config: dict, charset: Charset | None = None) -> None:
    run.mkdir(parents=True, exist_ok=True)
    write_json(run / CONFIG, config)
    if charset is not None:
        with replaced_atomically(run / CHARSET) as tmp:
            tmp.write_text(charset.chars, encoding="utf-8")


def refuse_used_out(run: Path) -> None:
    """A UserError if ``run`` holds anything a new run would destroy: weights, metrics or a checkpoint.
    One that failed before writing any of them can be started again in place."""
    if any((run / name).exists() for name in (METRICS, MODEL_WEIGHTS, ENCODER_WEIGHTS, "checkpoints")):
        unfinished = "" if (run / METRICS).exists() else " (unfinished: no metrics.json)"
        raise UserError(f"{run}: holds a run already{unfinished}; choose another --out or remove it")


def read_config(run: str | Path, needs: str, kind: str | tuple[str, ...]) -> tuple[Path, dict]:
    """(run path, config) of a run directory of ``kind`` ('recognizer' or 'pretrain', or a tuple of
    kinds) that holds ``needs``."""
    run = Path(run)
    kinds = (kind,) if isinstance(kind, str) else kind
    if not run.is_dir():
        raise UserError(f"{run}: no such run directory")
    if not (run / CONFIG).is_file():
        raise UserError(f"{run}: not a textssl run directory ({CONFIG} missing)")
    if not (run / needs).is_file():
        raise UserError(f"{run}: no {needs} in the run directory (unfinished or wrong kind of run?)")
    try:
        config = json.loads((run / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{run / CONFIG}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("kind") not in kinds:
        found = config.get("kind") if isinstance(config, dict) else None
        raise UserError(f"{run}: not a {' or '.join(kinds)} run (config.json says kind {found!r})")
    if not isinstance(config.get("image"), dict):
        raise UserError(f"{run / CONFIG}: 'image' entry missing or not a mapping")
    if not isinstance(config.get("assembly", config.get("model")), dict):  # 'model': written before assemblies
        raise UserError(f"{run / CONFIG}: 'assembly' entry missing or not a mapping")
    return run, config


def read_charset(run: Path, config: dict) -> Charset:
    path = run / CHARSET
    if not path.is_file():
        raise UserError(f"{run}: {CHARSET} missing")
    return Charset(path.read_text(encoding="utf-8"), name=config.get("charset_name", "custom"))


def load_weights(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable weights ({exc})") from None
