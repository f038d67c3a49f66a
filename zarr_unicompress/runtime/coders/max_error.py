"""``max_error=E``: the INR prediction plus the voxel residual quantised with step 2E+1, so
every voxel satisfies |x - x'| <= E."""

from __future__ import annotations

import numpy as np

from ...bitstream import ChunkHeader, ChunkSections
from ..inr.model import RuntimeModel
from ..quality import QualitySettings
from .base import Coder
from .voxel import decode_voxels, encode_voxels


class MaxErrorCoder(Coder):
    """Settings with ``max_error``: indices plus the residual entropy coded per context class
    (a group of codewords with similar residual magnitude in this chunk)."""

    name = "max_error"

    def wants(self, settings: QualitySettings) -> bool:
        return settings.max_error is not None

    def reads(self, header: ChunkHeader) -> bool:
        return header.has_residual and not (header.is_constant or header.has_wavelet_residual)

    def encode(self, chunk: np.ndarray, model: RuntimeModel,
               settings: QualitySettings) -> tuple[ChunkHeader, ChunkSections]:
        return encode_voxels(self, chunk, model, settings.max_error, settings.index_search)

    def decode(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        return decode_voxels(header, sections, model)
