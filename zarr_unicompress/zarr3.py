"""Zarr v3 array-to-bytes codec ``unicompress`` (use as ``serializer=``, also inside sharding).

Its configuration is the numcodecs config without ``id``; see :mod:`numcodecs_ext.unicompress`.
Registered through the ``zarr.codecs`` entry point, so ``zarr.open`` finds it in a fresh process.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.buffer import Buffer, NDBuffer
from zarr.core.common import parse_named_configuration

from numcodecs_ext.config_checks import DEFAULT_MAX_DECODED_BYTES
from numcodecs_ext.unicompress import UniCompress

from .bitstream import DTYPE_CODES
from .errors import UnsupportedInput
from .runtime.chunk_codec import decode_chunk

if TYPE_CHECKING:
    from typing import Self

    from zarr.core.array_spec import ArraySpec
    from zarr.core.chunk_grids import ChunkGrid

CODEC_NAME = "unicompress"


def _check_spec(shape: tuple[int, ...], dtype: Any) -> None:
    """Refuse dtypes and ranks the codec cannot encode (zarr dtype object or numpy dtype)."""
    native = np.dtype(dtype.to_native_dtype() if hasattr(dtype, "to_native_dtype") else dtype)
    if native.name not in DTYPE_CODES:
        raise UnsupportedInput(
            f"UniCompress does not support dtype {native}; supported: {', '.join(DTYPE_CODES)}. "
            "Convert the volume (e.g. scale float data to uint16) before creating the array"
        )
    if not 1 <= len(shape) <= 3:
        raise UnsupportedInput(f"UniCompress encodes 1D to 3D arrays; this array is {len(shape)}D")


@dataclass(frozen=True)
class UniCompressCodec(ArrayBytesCodec):
    """Zarr v3 wrapper of :class:`numcodecs_ext.UniCompress`; same arguments."""

    is_fixed_size = False
    inner: UniCompress = field(repr=False)

    def __init__(self, model: Any = None, max_error: int | None = None, ratio: float | None = None,
                 index_search: str = "table", max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES, *,
                 inner: UniCompress | None = None) -> None:
        object.__setattr__(self, "inner", inner or UniCompress(model, max_error, ratio, index_search,
                                                               max_decoded_bytes))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _, config = parse_named_configuration(data, CODEC_NAME, require_configuration=True)
        return cls(inner=UniCompress.from_config(dict(config or {})))

    def to_dict(self) -> dict[str, Any]:
        config = self.inner.get_config()
        config.pop("id")
        return {"name": CODEC_NAME, "configuration": config}

    def validate(self, *, shape: tuple[int, ...], dtype: Any, chunk_grid: ChunkGrid) -> None:
        _check_spec(shape, dtype)
        warn_if_chunks_exceed(tuple(shape), getattr(chunk_grid, "chunk_shape", None))

    def evolve_from_array_spec(self, array_spec: ArraySpec) -> Self:
        """Called at array creation for this codec as the array's serializer and also inside a
        sharding codec (where zarr calls no ``validate``): refuse what cannot be encoded there."""
        _check_spec(array_spec.shape, array_spec.dtype)
        return self

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        data = chunk_bytes.as_numpy_array().view(np.uint8)
        dtype = chunk_spec.dtype.to_native_dtype()
        arr = await asyncio.to_thread(decode_chunk, self.inner.runtime, memoryview(data), chunk_spec.shape, dtype)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(arr.reshape(chunk_spec.shape))

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        arr = np.ascontiguousarray(chunk_array.as_numpy_array())
        data = await asyncio.to_thread(self.inner.encode, arr)
        return chunk_spec.prototype.buffer.from_bytes(data)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError("UniCompress output size depends on the data")


class EdgePaddingWarning(UserWarning):
    """The chunks are larger than the array: every chunk is padded, and the padding is encoded."""


def warn_if_chunks_exceed(shape: tuple[int, ...], chunks: tuple[int, ...] | None) -> None:
    """Warn (:class:`EdgePaddingWarning`) where a chunk is larger than the array along an axis:
    zarr pads edge chunks with the fill value to the full chunk shape and the codec encodes that
    padding too (a step from data to fill value, which costs bits and lowers the on-disk ratio)."""
    if chunks is None or not any(int(c) > int(s) for c, s in zip(chunks, shape)):
        return
    warnings.warn(f"UniCompress: chunks {tuple(int(c) for c in chunks)} exceed the array {tuple(shape)}; zarr pads "
                  "every edge chunk to the chunk shape and the padding is encoded as well, which lowers the "
                  "on-disk ratio; use chunks no larger than the array (e.g. the array's size along short axes)",
                  EdgePaddingWarning, stacklevel=3)
