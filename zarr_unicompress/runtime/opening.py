"""Open a chunk stream: bytes in; the chunk, or a ratio-mode chunk's entropy-decoded
:class:`~.coders.ratio.CodedWavelet`, out.

Reads and checks the header (CRC, model, expected shape and dtype, intensity range) and
dispatches to the chunk's coder (:func:`.coders.registry.decoder_for`). Below both
:mod:`.chunk_codec` and :mod:`.device.torch_decode`, which it imports neither of.
"""

from __future__ import annotations

import numpy as np

from ..bitstream import unpack_chunk
from ..errors import ChunkCorrupt, ModelMismatch
from .coders.ratio import CodedWavelet
from .coders.registry import decoder_for
from .inr.model import RuntimeModel


def open_chunk(
    model: RuntimeModel,
    buf: bytes | memoryview,
    expected_shape: tuple[int, ...] | None = None,
    expected_dtype: np.dtype | None = None,
) -> np.ndarray | CodedWavelet:
    """All of :func:`.chunk_codec.decode_chunk` except a ratio-mode chunk's inverse transform: the chunk
    (z, y, x) in its dtype, or for ratio-mode streams its :class:`CodedWavelet` (whose
    reconstruction :func:`.coders.ratio.reconstruct_wavelet` does in NumPy, and
    :mod:`.device.torch_decode` on a torch device). Every check of the stream happens here, so both
    reconstructions refuse the same damaged streams (except coefficients that overflow when
    dequantised, which the reconstruction finds)."""
    header, sections = unpack_chunk(buf)
    if header.digest != bytes.fromhex(model.digest)[:16]:
        raise ModelMismatch(
            f"chunk was encoded with model {header.digest.hex()}..., the codec config holds model "
            f"{model.digest[:32]}...; the chunk belongs to another array or the metadata was replaced"
        )
    if expected_dtype is not None and np.dtype(expected_dtype) != header.dtype:
        raise ChunkCorrupt(f"chunk holds dtype {header.dtype}, the array expects {np.dtype(expected_dtype)}")
    if expected_shape is not None:
        want = (1,) * (3 - len(expected_shape)) + tuple(expected_shape)
        if want != header.shape:
            raise ChunkCorrupt(f"chunk holds shape {header.shape}, the array expects {tuple(expected_shape)}")
    info = np.iinfo(header.dtype)
    if not (info.min <= header.lo <= header.hi <= info.max):
        raise ChunkCorrupt(f"chunk intensity range [{header.lo}, {header.hi}] is invalid for {header.dtype}")
    return decoder_for(header).open(header, sections, model)  # type: ignore[return-value]
