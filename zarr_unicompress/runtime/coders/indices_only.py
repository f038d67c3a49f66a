"""Indices only: the pure INR reconstruction (highest ratio, lowest PSNR)."""

from __future__ import annotations

import numpy as np

from ...bitstream import ChunkHeader, ChunkSections
from ..inr.model import RuntimeModel
from ..quality import QualitySettings
from .base import Coder
from .voxel import decode_voxels, encode_voxels


class IndicesOnlyCoder(Coder):
    """Settings with neither ``max_error`` nor ``ratio``: one codebook index per token."""

    name = "indices"

    def wants(self, settings: QualitySettings) -> bool:
        return settings.max_error is None and settings.ratio is None

    def reads(self, header: ChunkHeader) -> bool:
        return not (header.is_constant or header.has_wavelet_residual or header.has_residual)

    def encode(self, chunk: np.ndarray, model: RuntimeModel,
               settings: QualitySettings) -> tuple[ChunkHeader, ChunkSections]:
        return encode_voxels(self, chunk, model, None, settings.index_search)

    def decode(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        return decode_voxels(header, sections, model)
