"""A run directory: config.json, charset.txt, weights as safetensors, metrics.json. Never pickles."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from textssl.data.charset import Charset
from textssl.errors import UserError

CONFIG = "config.json"
CHARSET = "charset.txt"
MODEL_WEIGHTS = "model.safetensors"
ENCODER_WEIGHTS = "encoder.safetensors"
METRICS = "metrics.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2) + "\n").encode())


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Write then rename, so a crash never leaves a half-written weights file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))
    os.replace(tmp, path)


def save_run(run: Path, config: dict, charset: Charset | None = None) -> None:
    run.mkdir(parents=True, exist_ok=True)
    write_json(run / CONFIG, config)
    if charset is not None:
        atomic_write_bytes(run / CHARSET, charset.chars.encode("utf-8"))


def read_config(run: str | Path, weights: str) -> tuple[Path, dict]:
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"{run}: no such run directory")
    if not (run / CONFIG).is_file():
        raise UserError(f"{run}: not a textssl run directory ({CONFIG} missing)")
    if not (run / weights).is_file():
        raise UserError(f"{run}: no {weights} in the run directory (unfinished or wrong kind of run?)")
    try:
        return run, json.loads((run / CONFIG).read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{run / CONFIG}: not valid JSON ({exc})") from None


def read_charset(run: Path, config: dict) -> Charset:
    path = run / CHARSET
    if not path.is_file():
        raise UserError(f"{run}: {CHARSET} missing")
    return Charset(path.read_text(encoding="utf-8"), name=config.get("charset_name", "custom"))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable weights ({exc})") from None
