"""Chunks of one value: the value in the header, no payload."""

from __future__ import annotations

import numpy as np

from ...bitstream import FLAG_CONSTANT, ChunkHeader, ChunkSections
from ...errors import ChunkCorrupt
from ..inr.model import RuntimeModel
from ..quality import QualitySettings
from .base import Coder, chunk_header


class ConstantCoder(Coder):
    """A chunk whose voxels all hold one value (under any settings): lo = hi = that value."""

    name = "constant"

    def wants(self, settings: QualitySettings) -> bool:
        return False  # chosen by the chunk, not by the settings: see registry.encoder_for

    def reads(self, header: ChunkHeader) -> bool:
        return header.is_constant

    def encode(self, chunk: np.ndarray, model: RuntimeModel,
               settings: QualitySettings) -> tuple[ChunkHeader, ChunkSections]:
        value = int(chunk.flat[0])
        return chunk_header(self, FLAG_CONSTANT, chunk, model, value, value), ChunkSections(b"", b"", b"")

    def decode(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        if header.lo != header.hi or header.words_len or header.tables_len:
            raise ChunkCorrupt("constant chunk has a range or payload; the chunk is damaged")
        return np.full(header.shape, header.lo, dtype=header.dtype)
