"""SSL methods by name. A new method is one file and one line here.

The table names each method's module and class, so that the command line can list and check
methods without importing torch; ``method_class`` imports the one asked for.
"""
from __future__ import annotations

import importlib

from textssl.errors import UserError

MAPPINGS = ("all", "frame", "window")
METHODS: dict[str, str] = {
    "simclr": "textssl.methods.simclr:SimCLR",
    "simsiam": "textssl.methods.simsiam:SimSiam",
    "seqclr": "textssl.methods.seqclr:SeqCLR",
    "moco-v1": "textssl.methods.moco:MoCo",
    "moco-v2": "textssl.methods.moco:MoCoV2",
    "moco-v3": "textssl.methods.moco:MoCoV3",
    "byol": "textssl.methods.byol:BYOL",
    "swav": "textssl.methods.swav:SwAV",
    "mae": "textssl.methods.mae:MAE",
    "simmim": "textssl.methods.simmim:SimMIM",
    "dig": "textssl.methods.dig:DiG",
    "rotation": "textssl.methods.rotation:Rotation",
    "patch-position": "textssl.methods.patch_position:PatchPosition",
    "jigsaw": "textssl.methods.jigsaw:Jigsaw",
    "colorization": "textssl.methods.colorization:Colorization",
    "autoencoder": "textssl.methods.autoencoder:Autoencoder",
    "inpainting": "textssl.methods.inpainting:Inpainting",
    "siman": "textssl.methods.siman:SimAN",
}


def method_class(name: str):
    if name not in METHODS:
        raise UserError(f"unknown --method '{name}': use {', '.join(METHODS)}")
    module, _, cls = METHODS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_method(name: str, backbone, options=None):
    """Method ``name`` over ``backbone`` with ``options`` (its Options dataclass; None: its defaults)."""
    return method_class(name)(backbone, options)


def method_options(name: str, values: dict, source: str, overrides: dict | None = None) -> dict:
    """Method ``name``'s options from ``values`` (read from ``source``) and command-line ``overrides``,
    checked against its ``Options`` dataclass: a dict of every option, defaults filled in."""
    import dataclasses

    from textssl.config import config_from_dict

    return dataclasses.asdict(config_from_dict(method_class(name).Options, values, source, overrides))
