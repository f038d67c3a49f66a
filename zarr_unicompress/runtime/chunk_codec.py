"""Encode one chunk to a UniCompress stream and decode it back: the driver of the coders.

This module reads the header, checks the model, shape, dtype and range, and dispatches to the
chunk's coder (:mod:`.coders`); the checksum is :func:`~zarr_unicompress.bitstream.unpack_chunk`'s.

A chunk (uint8/uint16/int8/int16, 3D; 1D and 2D chunks are treated as (1, ..., n)) is
normalised to [0, 1] with its own intensity range [lo, hi], split into tokens, and each
token is mapped to one codebook index. The shared SIREN turns (index, voxel position in
token) into a predicted intensity through the model's fixed-point table. Optionally, the
prediction error is quantised with step 2E+1 (so every voxel is within E of the input) and
entropy coded per context class; a context class is a group of codewords with similar
residual magnitude in this chunk, so contexts depend on integers only.

Quality modes (exactly one applies):

* ``max_error=E`` (int >= 0): every voxel satisfies |x - x'| <= E.
* ``ratio=R`` (float > 1): the residual is coded in the wavelet domain (see
  :mod:`.coders.ratio`) with the smallest quantiser step whose stream fits ``nbytes / R``.
  The prediction is the INR or, where that codes smaller, one flat value (then the stream
  holds no indices). No per-voxel bound; PSNR is what this mode optimises.
* neither: indices only, i.e. the pure INR reconstruction (highest ratio, lowest PSNR).
"""

from __future__ import annotations

import numpy as np

from ..bitstream import dtype_code, pack_chunk
from ..errors import UnsupportedInput
from .coders.ratio import CodedWavelet, reconstruct_wavelet
from .coders.registry import encoder_for
from .device.decode_device import decode_device
from .inr.model import RuntimeModel
from .opening import open_chunk
from .quality import QualitySettings

__all__ = ["CodedWavelet", "QualitySettings", "as_3d", "decode_chunk", "encode_chunk", "open_chunk",
           "reconstruct_wavelet"]


def as_3d(chunk: np.ndarray) -> np.ndarray:
    """View a 1D/2D/3D chunk as 3D by prepending axes of length 1; refuse other ranks and dtypes."""
    arr = np.asarray(chunk)
    dtype_code(arr.dtype)
    if not arr.dtype.isnative:  # e.g. '>u2' from a big-endian Zarr array: the same values, native order
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.ndim == 0 or arr.ndim > 3:
        raise UnsupportedInput(f"UniCompress encodes 1D to 3D chunks; got a {arr.ndim}D chunk of shape {arr.shape}")
    if arr.size == 0:
        raise UnsupportedInput("cannot encode an empty chunk")
    return arr.reshape((1,) * (3 - arr.ndim) + arr.shape)


def encode_chunk(model: RuntimeModel, chunk: np.ndarray, quality: QualitySettings) -> bytes:
    """Encode a chunk to bytes with the coder of its mode (:func:`.coders.registry.encoder_for`).
    Raises :class:`UnsupportedInput` for unsupported dtypes or shapes."""
    vol = as_3d(chunk)
    header, sections = encoder_for(vol, quality).encode(vol, model, quality)
    return pack_chunk(header, sections)


def decode_chunk(
    model: RuntimeModel,
    buf: bytes | memoryview,
    expected_shape: tuple[int, ...] | None = None,
    expected_dtype: np.dtype | None = None,
) -> np.ndarray:
    """Decode a stream to a 3D array; check it against the model and the expected shape/dtype.

    Raises :class:`ChunkCorrupt` for damaged streams and :class:`ModelMismatch` when the chunk
    was written with another model. Ratio-mode chunks are reconstructed in NumPy, or on the
    torch device that :func:`.device.decode_device.set_decode_device` names (3D ratio chunks
    are reconstructed on the CPU whatever it names; a device that cannot be used is refused for
    every chunk, with :class:`UnsupportedInput`).
    """
    device = decode_device()  # read (and checked) before any chunk kind: a bad name is always reported
    opened = open_chunk(model, buf, expected_shape, expected_dtype)
    if isinstance(opened, CodedWavelet):
        if device is not None:
            from .device.torch_decode import decode_chunks  # imports torch

            return decode_chunks(model, None, device, opened=[opened])[0]
        return reconstruct_wavelet(model, opened)
    return opened
