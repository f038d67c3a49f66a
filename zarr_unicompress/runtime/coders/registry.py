"""The registered coders, and which one encodes a chunk or decodes a stream.

In: the settings and the chunk (encode) or the header (decode); out: the :class:`.base.Coder`.
"""

from __future__ import annotations

import numpy as np

from ...bitstream import ChunkHeader
from ...errors import ChunkCorrupt
from ..quality import QualitySettings
from .base import Coder
from .constant import ConstantCoder
from .indices_only import IndicesOnlyCoder
from .max_error import MaxErrorCoder
from .predictive import PredictiveCoder
from .ratio import RatioCoder
from .ratio3d import Ratio3DCoder
from .ratio_ctx import RatioContextCoder

CONSTANT = ConstantCoder()

#: every coder but the constant one, in the order :func:`encoder_for` asks them; a new coder
#: goes before those whose settings it takes over (coder ids: see the package docstring).
CODERS: tuple[Coder, ...] = (
    PredictiveCoder(),  # encodes every max_error chunk from v0.5 on
    MaxErrorCoder(),  # decodes the max_error streams of v0.4 and earlier
    RatioContextCoder(),  # encodes every ratio chunk from v0.6 on (small chunks through Ratio3DCoder)
    Ratio3DCoder(),  # decodes the ratio streams of v0.5 (and encodes small chunks for RatioContextCoder)
    RatioCoder(),
    IndicesOnlyCoder(),
)

#: coder ids reserved for coders that are coming (none at present). A stream naming one is
#: refused until its coder is here.
RESERVED_IDS: dict[int, str] = {}

_BY_ID: dict[int, Coder] = {c.coder_id: c for c in CODERS if c.coder_id != 0}
_LEGACY: tuple[Coder, ...] = (CONSTANT, *(c for c in CODERS if c.coder_id == 0))


def encoder_for(chunk: np.ndarray, settings: QualitySettings) -> Coder:
    """The coder of a 3D chunk (z, y, x) under ``settings``: the constant coder where every voxel
    holds one value, else the first of :data:`CODERS` that wants the settings."""
    if chunk.min() == chunk.max():
        return CONSTANT
    for coder in CODERS:
        if coder.wants(settings):
            return coder
    raise AssertionError(f"no coder takes {settings}")  # IndicesOnlyCoder takes what the others leave


def decoder_for(header: ChunkHeader) -> Coder:
    """The coder that reads a stream with ``header``; raises :class:`ChunkCorrupt` for a coder
    id no registered coder has."""
    if header.coder == 0:
        for coder in _LEGACY:
            if coder.reads(header):
                return coder
        raise AssertionError(f"no coder reads flags 0x{header.flags:02x}")  # IndicesOnlyCoder reads the rest
    coder = _BY_ID.get(header.coder)
    if coder is None:
        what = f"is reserved for the {RESERVED_IDS[header.coder]} coder" if header.coder in RESERVED_IDS else "is unknown"
        raise ChunkCorrupt(f"chunk header names coder {header.coder}, which {what} in this build; the chunk "
                           "is damaged or was written by a newer zarr-unicompress (upgrade it)")
    return coder
