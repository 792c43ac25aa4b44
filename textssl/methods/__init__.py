"""SSL methods by name. A new method is one file and one line here."""
from __future__ import annotations

from textssl.errors import UserError
from textssl.methods.base import SSLMethod
from textssl.methods.mapping import MAPPINGS, map_instances
from textssl.methods.seqclr import SeqCLR
from textssl.methods.simclr import SimCLR
from textssl.methods.simsiam import SimSiam

METHODS: dict[str, type[SSLMethod]] = {
    "simclr": SimCLR,
    "simsiam": SimSiam,
    "seqclr": SeqCLR,
}


def build_method(name: str, backbone, **options) -> SSLMethod:
    if name not in METHODS:
        raise UserError(f"unknown --method '{name}': use {', '.join(METHODS)}")
    return METHODS[name](backbone, **options)


__all__ = ["METHODS", "MAPPINGS", "SSLMethod", "build_method", "map_instances"]
