"""Bulk reads of a UniCompress array: many chunks at once, the entropy stage in processes and
the reconstruction on a torch device (GPU) in batches.

Zarr decodes a chunk per codec call; a lazy Dask read therefore reconstructs one chunk per
task. :func:`read_array` instead reads the chunks' streams straight from the store, has a
:class:`~.runtime.parallel_open.ChunkOpener` entropy-decode them in worker processes and
reconstructs them in batches with :func:`~.runtime.torch_decode.decode_chunks` (or, with no
device, decodes them wholly in the workers), and assembles the requested box. The voxels are
the ones zarr returns (same decoder, bit for bit).

Arrays whose chunks are plain UniCompress streams can be read so: Zarr v2 with the
``UniCompress`` compressor and no filters, Zarr v3 with the ``UniCompressCodec`` serializer and
no other codec. Sharded arrays are refused (read them with zarr or Dask). Scripts that call
:func:`read_array` need an ``if __name__ == "__main__":`` guard (spawned worker processes).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice, product
from typing import Any

import numpy as np

from .bitstream import declared_output
from .errors import ChunkCorrupt, UnsupportedInput
from .runtime.inr.model import RuntimeModel
from .runtime.device.parallel_open import ChunkOpener
from .runtime.device.torch_decode import DEFAULT_MAX_BATCH, decode_chunks


def read_array(array: Any, region: tuple[slice, ...] | None = None, device: str | None = "cuda",
               processes: int | None = None, max_batch: int = DEFAULT_MAX_BATCH,
               opener: ChunkOpener | None = None, threads: bool = False) -> np.ndarray:
    """The voxels of ``region`` (slices with step 1; default: all) of a UniCompress array
    (a zarr Array or a path), as a new array in the array's dtype.

    ``device``: the torch device of the reconstruction ("cuda", "cuda:N", "cpu"), or None to
    decode each chunk wholly in the workers (NumPy). ``processes``: workers of the entropy
    stage (default: all cores but one), processes or, with ``threads``, threads of this
    process (for arrays written since v0.4.0, whose entropy decoder releases the GIL).
    ``max_batch``: chunks per device batch.
    ``opener``: a running :class:`ChunkOpener` of the array's model to use instead of starting
    one (for repeated reads; ``reconstruct=True`` where ``device`` is None).

    Raises :class:`UnsupportedInput` for arrays whose chunks are not plain UniCompress streams
    (sharded, other codecs), a region with steps or a max_batch below 1, :class:`ChunkCorrupt` /
    :class:`ModelMismatch` for damaged chunks.
    """
    import zarr

    if not isinstance(max_batch, int) or max_batch < 1:
        raise UnsupportedInput(f"max_batch must be an integer >= 1, got {max_batch!r}")
    if not hasattr(array, "metadata"):
        array = zarr.open_array(str(array), mode="r")
    model = _chunk_model(array)
    box = _box(region, array.shape)
    out = np.full(tuple(s.stop - s.start for s in box), array.fill_value or 0, dtype=array.dtype)
    chunks = tuple(array.chunks)
    coords = product(*(range(s.start // c, -(-s.stop // c)) for s, c in zip(box, chunks)))
    present = ((c, _declared_as(data, chunks, array.dtype))  # read as decoded
               for c, data in _streams(array, coords) if data is not None)
    if opener is not None:
        if opener.reconstruct != (device is None):
            raise UnsupportedInput("the opener must reconstruct (reconstruct=True) exactly where device is None")
        _decode_into(out, box, chunks, present, model, device, max_batch, opener)
        return out
    with ChunkOpener(model, processes or max(1, (os.cpu_count() or 2) - 1), reconstruct=device is None,
                     threads=threads) as own:
        _decode_into(out, box, chunks, present, model, device, max_batch, own)
    return out


def _decode_into(out: np.ndarray, box: tuple[slice, ...], chunks: tuple[int, ...],
                 present: Iterator[tuple[tuple[int, ...], bytes]], model: RuntimeModel, device: str | None,
                 max_batch: int, opener: ChunkOpener) -> None:
    """Decode the ``present`` chunks (coordinates, stream) and copy their parts in ``box`` into
    ``out``. The streams are read from ``present`` only as the opener takes them, so at most
    its window of them is in memory."""
    submitted: deque[tuple[int, ...]] = deque()  # coordinates of the streams taken, in order

    def streams() -> Iterator[bytes]:
        for chunk_coords, data in present:
            submitted.append(chunk_coords)
            yield data

    opened = opener.open(streams())
    while batch := list(islice(opened, max_batch)):
        decoded = batch if device is None else decode_chunks(model, None, device, opened=batch)
        for voxels in decoded:
            _place(out, box, chunks, submitted.popleft(), _as_chunk(voxels, chunks, out.dtype))


def _declared_as(data: bytes, chunks: tuple[int, ...], dtype: Any) -> bytes:
    """``data`` if its header declares the array's chunk shape and dtype; else ChunkCorrupt,
    before a worker allocates what a crafted header declares."""
    shape, declared = declared_output(data)
    want = (1,) * (3 - len(chunks)) + tuple(chunks)
    if shape != want or declared != np.dtype(dtype):
        raise ChunkCorrupt(f"chunk declares {shape} {declared}, the array's chunks are {tuple(chunks)} "
                           f"{np.dtype(dtype)}; the chunk is damaged or belongs to another array")
    return data


def _chunk_model(array: Any) -> RuntimeModel:
    """The decode model of an array whose chunks are plain UniCompress streams."""
    from numcodecs_ext.unicompress import UniCompress

    from .zarr3 import UniCompressCodec

    metadata = array.metadata
    if metadata.zarr_format == 2:
        if isinstance(metadata.compressor, UniCompress) and not metadata.filters:
            return metadata.compressor.runtime
        raise UnsupportedInput("read_array reads Zarr v2 arrays whose compressor is UniCompress and that have no "
                               "filters; read this one with zarr or dask")
    codecs = list(metadata.codecs)
    if len(codecs) == 1 and isinstance(codecs[0], UniCompressCodec):
        return codecs[0].inner.runtime
    names = [type(c).__name__ for c in codecs]
    raise UnsupportedInput(f"read_array reads Zarr v3 arrays whose only codec is UniCompressCodec (no sharding, "
                           f"no compressors); this one has {names}: read it with zarr or dask")


def _box(region: tuple[slice, ...] | None, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """``region`` as one slice (start, stop, step 1) per axis, clipped to ``shape``."""
    region = tuple(region or ()) + (slice(None),) * (len(shape) - len(tuple(region or ())))
    if len(region) != len(shape) or not all(isinstance(s, slice) for s in region):
        raise UnsupportedInput(f"region must be {len(shape)} slices, got {region!r}")
    box = []
    for s, n in zip(region, shape):
        start, stop, step = s.indices(n)
        if step != 1:
            raise UnsupportedInput(f"region slices must have step 1, got {s!r}")
        box.append(slice(start, max(start, stop)))
    return tuple(box)


def _streams(array: Any, coords: Iterable[tuple[int, ...]]) -> Iterator[tuple[tuple[int, ...], bytes | None]]:
    """(chunk coordinates, the chunk's stored bytes or None where it was never written)."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    store, prefix = array.store_path.store, array.store_path.path
    prototype = default_buffer_prototype()
    for chunk_coords in coords:
        key = array.metadata.encode_chunk_key(chunk_coords)
        buf = sync(store.get(f"{prefix}/{key}" if prefix else key, prototype=prototype))
        yield chunk_coords, None if buf is None else buf.to_bytes()


def _as_chunk(voxels: np.ndarray, chunks: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A decoded chunk (3D) as an array of the chunk shape; checks shape and dtype."""
    if voxels.dtype != np.dtype(dtype) or voxels.size != int(np.prod(chunks)):
        raise ChunkCorrupt(f"chunk holds {voxels.shape} {voxels.dtype}, the array expects {chunks} {np.dtype(dtype)}; "
                           "the chunk is damaged or belongs to another array")
    return voxels.reshape(chunks)


def _place(out: np.ndarray, box: tuple[slice, ...], chunks: tuple[int, ...], chunk_coords: tuple[int, ...],
           chunk: np.ndarray) -> None:
    """Copy the part of ``chunk`` (at ``chunk_coords``) that lies in ``box`` into ``out``."""
    source, target = [], []
    for s, c, k in zip(box, chunks, chunk_coords):
        lo, hi = max(s.start, k * c), min(s.stop, (k + 1) * c)
        source.append(slice(lo - k * c, hi - k * c))
        target.append(slice(lo - s.start, hi - s.start))
    out[tuple(target)] = chunk[tuple(source)]
