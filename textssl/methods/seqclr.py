"""SeqCLR (Aberdam et al. 2021): contrast the sub-word instances of two sequence-preserving views.

The contrastive objective of SimCLR with a sequence mapping (docs/DESIGN.md): the feature sequence is
pooled into windows (5 by default) and every window of every image is an instance, so that each
image gives several positive pairs and the batch many negatives. The projection head is an MLP
per instance or, with ``head="bilstm"``, a BiLSTM over the frames before the mapping.
"""
from __future__ import annotations

from dataclasses import dataclass

from textssl.config import choice
from textssl.methods import MAPPINGS
from textssl.methods.simclr import SimCLR, SimCLROptions


@dataclass(kw_only=True)
class SeqCLROptions(SimCLROptions):
    mapping: str = choice("window", MAPPINGS, "instance mapping: all, frame or window")


class SeqCLR(SimCLR):
    Options = SeqCLROptions
