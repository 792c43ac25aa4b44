"""Command-line options generated from config dataclasses, merged with YAML presets.

Precedence: dataclass defaults < ``--config`` YAML file < options given on the command line.
Every value is checked against its field's type, ``choices``, ``min``, ``max`` and ``multiple`` (field metadata), and a
bad one is reported naming the option or the file and key it came from.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from pathlib import Path

import yaml

from textssl.errors import UserError


def choice(default, choices, help: str = "") -> dataclasses.Field:
    """A dataclass field whose value must be one of ``choices``; ``help``: its option's help text, for
    dataclasses whose every field is an option (a method's options)."""
    return dataclasses.field(default=default, metadata={"choices": tuple(choices), "help": help})


def at_least(default, low, help: str = "") -> dataclasses.Field:
    """A numeric dataclass field whose value must be >= ``low`` (or None where the type allows it)."""
    return dataclasses.field(default=default, metadata={"min": low, "help": help})


def within(default, low, high, help: str = "") -> dataclasses.Field:
    """A numeric dataclass field whose value must lie in [low, high]."""
    return dataclasses.field(default=default, metadata={"min": low, "max": high, "help": help})


def fraction(default, help: str = "") -> dataclasses.Field:
    """A numeric dataclass field whose value must lie in [0, 1]."""
    return within(default, 0.0, 1.0, help)


def multiple_of(default, step) -> dataclasses.Field:
    """A whole-number dataclass field whose value must be a positive multiple of ``step`` (or None)."""
    return dataclasses.field(default=default, metadata={"min": step, "multiple": step})


def api_only() -> dataclasses.Field:
    """A list field for Python callers only: no option, no YAML key (e.g. extra Lightning callbacks)."""
    return dataclasses.field(default_factory=list, metadata={"api_only": True})


def _base_type(hint):
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return _base_type(next(a for a in typing.get_args(hint) if a is not type(None)))
    if typing.get_origin(hint) is list:
        return list
    return hint


def _optional(hint) -> bool:
    return type(None) in typing.get_args(hint)


def add_options(parser, cls, helps: dict[str, str] | None = None) -> None:
    """One ``--name`` option per dataclass field that has a help text, in ``helps`` or in the field's
    metadata (no defaults: YAML presets fill them). ``parser``: an ArgumentParser or an argument group."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        help_text = (helps or {}).get(f.name) or f.metadata.get("help")
        if not help_text:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = default is not None and default is not False and default != ""
        text = help_text + (f" (default: {default})" if shown else "")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        elif kind is list:
            parser.add_argument(flag, action="append", default=argparse.SUPPRESS, metavar="LMDB", help=text)
        else:
            parser.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text,
                                choices=f.metadata.get("choices"))


def read_yaml(path: str | Path, what: str = "--config") -> dict:
    """A YAML file holding one mapping; option names may use '-' or '_'."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (save the YAML file as UTF-8)") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def build_config(cls, cli: dict, yaml_path: str | None = None):
    """The dataclass from a ``--config`` YAML file's values overridden by command-line values."""
    return config_from_dict(cls, read_yaml(yaml_path) if yaml_path else {}, str(yaml_path), overrides=cli)


def config_from_dict(cls, values: dict, source: str, overrides: dict | None = None):
    """The dataclass from ``values`` (read from ``source``, e.g. a file) and command-line ``overrides``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields or fields[key].metadata.get("api_only"):
            raise UserError(f"{source}: unknown key '{key}'")
    overrides = overrides or {}
    hints = typing.get_type_hints(cls)
    merged = {}
    for key, value in {**values, **overrides}.items():
        where = "--" + key.replace("_", "-") if key in overrides else f"{source}: '{key}'"
        merged[key] = _checked(fields[key], hints[key], value, where)
    missing = [name for name, f in fields.items() if name not in merged
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise UserError(f"missing required option --{missing[0].replace('_', '-')}")
    return cls(**merged)


def _checked(f: dataclasses.Field, hint, value, where: str):
    """``value`` converted to the field's type, or a UserError naming ``where``."""
    if f.metadata.get("api_only"):
        return value
    if value is None:
        if _optional(hint):
            return None
        raise UserError(f"{where} needs a value")
    kind = _base_type(hint)
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where} must be true or false, got {value!r}")
    elif kind in (int, float):
        try:
            if isinstance(value, bool):
                raise ValueError
            if kind is int and not isinstance(value, int):  # 20, 2e3 or "20" from YAML; not 2.5
                if float(value) != int(float(value)):
                    raise ValueError
                value = int(float(value))
            elif kind is float:
                value = float(value)
        except (TypeError, ValueError, OverflowError):
            wanted = "a whole number" if kind is int else "a number"
            raise UserError(f"{where} must be {wanted}, got {value!r}") from None
        if kind is float and not math.isfinite(value):
            raise UserError(f"{where} must be a finite number, got {value!r}")
    elif kind is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise UserError(f"{where} must be a string, got {value!r}")
        value = str(value)
    elif kind is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping of option: value, got {value!r}")
    elif kind is list:
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise UserError(f"{where} must be a path or a list of paths, got {value!r}")
    choices, low, high = f.metadata.get("choices"), f.metadata.get("min"), f.metadata.get("max")
    if choices and value not in choices:
        raise UserError(f"{where}: {value!r} is not one of {', '.join(map(str, choices))}")
    if low is not None and value < low:
        raise UserError(f"{where} must be at least {low}, got {value!r}")
    if high is not None and value > high:
        raise UserError(f"{where} must be at most {high}, got {value!r}")
    if f.metadata.get("multiple") and value % f.metadata["multiple"]:
        raise UserError(f"{where} must be a multiple of {f.metadata['multiple']}, got {value!r}")
    return value
