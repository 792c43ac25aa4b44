"""Command-line options generated from config dataclasses, merged with YAML presets.

Precedence: dataclass defaults < ``--config`` YAML file < options given on the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path

import yaml

from textssl.errors import UserError


def _base_type(hint):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return _base_type(args[0])
    if typing.get_origin(hint) is list:
        return list
    return hint


def add_options(parser: argparse.ArgumentParser, cls, helps: dict[str, str], skip: tuple[str, ...] = ()) -> None:
    """One ``--name`` option per dataclass field (defaults left out so that YAML presets can fill them)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.name not in helps:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        text = helps[f.name] + (f" (default: {default})" if default not in (None, False, "") else "")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        elif kind is list:
            parser.add_argument(flag, action="append", default=argparse.SUPPRESS, metavar="LMDB", help=text)
        else:
            parser.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--config {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def build_config(cls, cli: dict, yaml_path: str | None = None, source: str = "command line"):
    """The dataclass from YAML values overridden by command-line values; names the bad key or option."""
    values = read_yaml(yaml_path) if yaml_path else {}
    names = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in values:
        if key not in names:
            raise UserError(f"{yaml_path}: unknown key '{key}'")
    values.update(cli)
    for key, value in list(values.items()):
        kind = _base_type(hints[key])
        if value is None:
            continue
        if kind is list and isinstance(value, str):
            values[key] = [value]
        elif kind in (int, float) and not isinstance(value, bool):
            try:
                values[key] = kind(value)
            except (TypeError, ValueError):
                raise UserError(f"{yaml_path or source}: '{key}' must be a number, got {value!r}") from None
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in values]
    if missing:
        raise UserError(f"missing required option --{missing[0].replace('_', '-')}")
    return cls(**values)
