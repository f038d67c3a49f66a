"""Reconstruction of ratio-mode chunks with torch (a GPU, or the CPU), many chunks at a time.

Decoding a ratio-mode chunk has two stages: entropy decoding of the quantised coefficients
(:func:`.chunk_codec.open_chunk`: sequential ANS, NumPy and constriction on a CPU core; run it
in processes with :class:`.parallel_open.ChunkOpener`), then the reconstruction: zero-block
scatter, dequantisation, inverse 2D CDF 9/7 per slice, the base (INR table lookup or flat),
rounding and clipping. This module does the second stage on a torch device, for a batch of
chunks at once: the transform works per z-slice, so chunks of one shape are stacked along z
and every lifting step is one kernel over the whole batch.

Same values as NumPy: every lifting step is the NumPy code's sequence of separate IEEE float32
adds and multiplies (one operation per kernel, so no fused multiply-add can change a rounding),
the base is the same integer table, and ``torch.round`` rounds half to even as ``np.rint``
does. Decoded voxels therefore equal :func:`.chunk_codec.decode_chunk`'s on the CPU and on a
GPU; the tests check equality on the CPU, the GPU benchmark counts differing voxels. The
documented guarantee stays 1 intensity unit (see the README's determinism section).

Torch is imported by the functions that need it only: decoding never requires torch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ChunkCorrupt, UnsupportedInput
from . import cdf97
from .chunk_codec import CodedWavelet, open_chunk
from .model import RuntimeModel
from .wavelet_residual import ZERO_BLOCK, band_shapes, block_grid

#: float32 constants exactly as the NumPy transform uses them (python floats holding float32 values).
_INV_LOW_GAIN = float(np.float32(1.0 / cdf97._LOW_GAIN))
_INV_HIGH_GAIN = float(np.float32(1.0 / cdf97._HIGH_GAIN))
_STEPS = tuple(float(np.float32(c)) for c in (-cdf97._DELTA, -cdf97._GAMMA, -cdf97._BETA, -cdf97._ALPHA))

#: environment variable that names the decode device of a process from its start (for worker
#: processes of dask clusters, which do not run the client's set_decode_device).
DECODE_DEVICE_ENV = "UNICOMPRESS_DECODE_DEVICE"

_device: str | None = None
_env_read = False
#: the models' intensity tables (int64) on each device, by (model digest, device).
_device_tables: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def set_decode_device(device: str | None) -> None:
    """Reconstruct ratio-mode chunks that :func:`.chunk_codec.decode_chunk` decodes (so also
    the codec's ``decode``, which zarr and dask call) on the torch ``device`` ("cuda",
    "cuda:N", "cpu"), or in NumPy for None (the default). Process-wide, since zarr calls the
    codec without extra arguments; worker processes take it from ``UNICOMPRESS_DECODE_DEVICE``.

    Raises :class:`UnsupportedInput` where torch is missing or does not know the device.
    """
    global _device, _env_read
    _device = None if device is None else str(torch_device(device))
    _env_read = True


def decode_device() -> str | None:
    """The device set by :func:`set_decode_device`, else the one that the environment variable
    ``UNICOMPRESS_DECODE_DEVICE`` names (read once per process; empty or unset: None, NumPy).

    Raises :class:`UnsupportedInput` where that variable names a device that cannot be used."""
    if not _env_read:
        name = os.environ.get(DECODE_DEVICE_ENV, "").strip()
        try:
            set_decode_device(name or None)
        except UnsupportedInput as exc:
            raise UnsupportedInput(f"{DECODE_DEVICE_ENV}={name!r}: {exc}") from None
    return _device


def torch_device(device: str) -> Any:
    """``torch.device(device)``, checked: torch installed, and CUDA present where asked for."""
    try:
        import torch
    except ImportError:
        raise UnsupportedInput(f"decode device {device!r} needs torch; install it or decode in NumPy "
                               "(device None)") from None
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UnsupportedInput(f"unknown torch device {device!r}: {exc}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedInput(f"decode device {device!r} asked for, but torch sees no CUDA device; "
                               "use 'cpu' or None")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise UnsupportedInput(f"decode device {device!r} asked for, but torch sees "
                               f"{torch.cuda.device_count()} CUDA device(s)")
    return parsed


def decode_chunks(model: RuntimeModel, buffers: Sequence[bytes | memoryview], device: str,
                  opened: Sequence[np.ndarray | CodedWavelet] | None = None) -> list[np.ndarray]:
    """Decode chunk streams to host arrays (z, y, x) in their dtypes, reconstructing the
    ratio-mode ones on the torch ``device`` in one batch per chunk shape.

    ``opened`` are the streams already entropy-decoded (:func:`.chunk_codec.open_chunk`, e.g.
    by a :class:`.parallel_open.ChunkOpener`); else they are opened here, in this process.
    """
    if opened is None:
        opened = [open_chunk(model, buf) for buf in buffers]
    coded = [(i, c) for i, c in enumerate(opened) if isinstance(c, CodedWavelet)]
    out: list[Any] = list(opened)
    for members, group in _reconstruct_groups(model, [c for _, c in coded], device):
        host = _to_pinned_host(group)
        dtype = coded[members[0]][1].header.dtype
        depth = group.shape[0] // len(members)
        for k, m in enumerate(members):
            out[coded[m][0]] = host[k * depth : (k + 1) * depth].astype(dtype)
    return out


def reconstruct_batch(model: RuntimeModel, coded: Sequence[CodedWavelet], device: str) -> list[Any]:
    """Reconstruct entropy-decoded ratio-mode chunks on a torch device.

    Returns one tensor (z, y, x) per chunk, in order, on ``device``: uint8, int8 and int16
    chunks in their own dtype, uint16 chunks as int32 (torch's uint16 has few kernels).
    Chunks of one shape, dtype and stream version are reconstructed together. Raises
    :class:`ChunkCorrupt` where a chunk's dequantised coefficients overflow float32.
    """
    out: list[Any] = [None] * len(coded)
    for members, group in _reconstruct_groups(model, coded, device):
        depth = group.shape[0] // len(members)
        for k, m in enumerate(members):
            out[m] = group[k * depth : (k + 1) * depth]
    return out


def _reconstruct_groups(model: RuntimeModel, coded: Sequence[CodedWavelet], device: str) -> Iterator[tuple[list[int], Any]]:
    """Per group of chunks of one shape, dtype and stream version: their positions in
    ``coded`` and their voxels stacked along z, on the device, in :func:`reconstruct_batch`'s dtype."""
    dev = torch_device(device)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, c in enumerate(coded):
        key = (c.header.shape, c.params.levels, c.header.has_zero_blocks, np.dtype(c.header.dtype))
        groups.setdefault(key, []).append(i)
    for (shape, levels, _, dtype), members in groups.items():
        values = _reconstruct_group(model, [coded[i] for i in members], shape, levels, dev)
        yield members, values.to(_torch_dtype(dtype))


def to_host(tensor: Any, dtype: np.dtype) -> np.ndarray:
    """A tensor of :func:`reconstruct_batch` as a new host array in the chunk's ``dtype``."""
    return _to_pinned_host(tensor).astype(dtype)


def _to_pinned_host(tensor: Any) -> np.ndarray:
    """A device tensor as a new host array, through one copy into page-locked memory (a CUDA
    copy to pageable memory is staged and several times slower)."""
    import torch

    if tensor.device.type == "cpu":
        return tensor.numpy()
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor)
    return host.numpy().copy()


def _torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return {np.dtype(np.uint8): torch.uint8, np.dtype(np.int8): torch.int8,
            np.dtype(np.int16): torch.int16}.get(np.dtype(dtype), torch.int32)


def _torch_dtypes() -> dict[np.dtype, Any]:
    import torch

    return {np.dtype(np.bool_): torch.bool, np.dtype(np.uint8): torch.uint8, np.dtype(np.int8): torch.int8,
            np.dtype(np.int16): torch.int16, np.dtype(np.int32): torch.int32, np.dtype(np.int64): torch.int64,
            np.dtype(np.float32): torch.float32}


class _Staging:
    """Host arrays packed into one buffer (page-locked for CUDA) and moved to the device in one
    copy; :meth:`get` gives each back as a device tensor."""

    _ALIGN = 8

    def __init__(self, arrays: list[np.ndarray], dev: Any) -> None:
        import torch

        self._layout = []
        offset = 0
        for a in arrays:
            self._layout.append((offset, a.dtype, a.size))
            offset += -(-a.nbytes // self._ALIGN) * self._ALIGN
        host = torch.empty(max(offset, self._ALIGN), dtype=torch.uint8, pin_memory=dev.type == "cuda")
        view = host.numpy()
        for a, (start, _, _) in zip(arrays, self._layout):
            view[start : start + a.nbytes] = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
        self._device = host.to(dev, non_blocking=True)

    def get(self, k: int) -> Any:
        """Array ``k`` as a 1D device tensor of its dtype (bool stays bool)."""
        start, dtype, size = self._layout[k]
        return self._device[start : start + size * dtype.itemsize].view(_torch_dtypes()[np.dtype(dtype)])


def _reconstruct_group(model: RuntimeModel, coded: list[CodedWavelet], shape: tuple[int, int, int], levels: int,
                       dev: Any) -> Any:
    """The chunks of one shape stacked along z: float32 (n * z, y, x), rounded and clipped."""
    import torch

    depth = shape[0]
    per_slice = np.repeat(np.array([[np.float32(c.params.step), c.header.lo, c.header.hi] for c in coded],
                                   np.float32), depth, axis=0)
    arrays = [per_slice] + [a for c in coded for band in c.bands for a in band if a is not None]
    arrays += [c.indices for c in coded if c.indices is not None]
    staged = _Staging(arrays, dev)
    per_slice = staged.get(0).reshape(-1, 3)[:, :, None, None]
    step, lo, hi = per_slice[:, 0], per_slice[:, 1], per_slice[:, 2]
    position = iter(range(1, len(arrays)))
    parts = [[[staged.get(next(position)) for a in band if a is not None] for band in c.bands] for c in coded]
    bands = []
    for b, band_shape in enumerate(band_shapes(shape, levels)):
        band = _band([p[b] for p in parts], band_shape, len(coded), dev)
        band *= step
        bands.append(band)
    values = _synthesize(bands, levels, shape)
    indices = [staged.get(next(position)) if c.indices is not None else None for c in coded]
    values += _base(model, coded, indices, shape, dev)
    finite = torch.isfinite(values).reshape(len(coded), -1).all(dim=1).cpu().numpy()
    if not finite.all():
        raise ChunkCorrupt(f"chunk {int(np.flatnonzero(~finite)[0])} of the batch: wavelet coefficients "
                           "overflow when dequantised; the chunk is damaged")
    torch.round(values, out=values)
    return torch.clamp(values, lo, hi, out=values)


def _band(parts: list[list[Any]], shape: tuple[int, int, int], n: int, dev: Any) -> Any:
    """One band (of ``shape`` per chunk) of ``n`` chunks stacked along z, float32 on ``dev``,
    from each chunk's device tensors [block flags (bool), flagged blocks' values] or [whole band].

    The flagged blocks are placed by a gather (block k takes value block cumsum(flags)[k] - 1)
    rather than a scatter to host-computed positions: no positions to move, no sync."""
    import torch

    z, y, x = shape
    values = torch.cat([p[-1].to(torch.float32) for p in parts])
    if len(parts[0]) == 1:  # streams written before zero blocks: whole bands
        return values.reshape(n * z, y, x)
    flags = torch.cat([p[0] for p in parts])
    _, by, bx = block_grid(shape)
    area = ZERO_BLOCK * ZERO_BLOCK
    if values.numel() == 0:
        return torch.zeros((n * z, y, x), dtype=torch.float32, device=dev)
    source = torch.cumsum(flags, 0) - 1
    source.clamp_(min=0)
    blocks = torch.where(flags[:, None], values.reshape(-1, area)[source], 0.0)
    band = blocks.reshape(n * z, by, bx, ZERO_BLOCK, ZERO_BLOCK).permute(0, 1, 3, 2, 4)
    band = band.reshape(n * z, by * ZERO_BLOCK, bx * ZERO_BLOCK)
    return band[:, :y, :x].contiguous()


def _base(model: RuntimeModel, coded: list[CodedWavelet], indices: list[Any], shape: tuple[int, int, int],
          dev: Any) -> Any:
    """The bases (INR prediction or flat value) of the chunks stacked along z, float32 on
    ``dev``; ``indices`` are the chunks' codebook indices on the device (None: flat base)."""
    import torch

    depth = shape[0]
    base = torch.empty((len(coded) * depth, *shape[1:]), dtype=torch.float32, device=dev)
    for k, (c, chunk_indices) in enumerate(zip(coded, indices)):
        part = base[k * depth : (k + 1) * depth]
        if chunk_indices is None:
            part.fill_(float(np.float32(c.params.flat_value)))
        else:
            table = _scaled_table(model, c.header.lo, c.header.hi, dev)
            part.copy_(_from_tokens(table[chunk_indices], shape, model.token_shape))
    return base


def _scaled_table(model: RuntimeModel, lo: int, hi: int, dev: Any) -> Any:
    """:func:`.chunk_codec.scaled_table` as float32 (exact: |entries| < 2**24) on ``dev``."""
    import torch

    key = (model.digest, str(dev))
    table = _device_tables.get(key)
    if table is None:
        with _lock:
            table = _device_tables.setdefault(key, torch.from_numpy(model.table.astype(np.int64)).to(dev))
    return (lo + (table * (hi - lo) + 32767) // 65535).to(torch.float32)


def _from_tokens(tokens: Any, shape: tuple[int, int, int], token_shape: tuple[int, int, int]) -> Any:
    """:func:`.tokens.from_tokens` for a tensor (n_tokens, prod(token_shape))."""
    gz, gy, gx = (-(-s // t) for s, t in zip(shape, token_shape))
    tz, ty, tx = token_shape
    full = tokens.reshape(gz, gy, gx, tz, ty, tx).permute(0, 3, 1, 4, 2, 5).reshape(gz * tz, gy * ty, gx * tx)
    return full[: shape[0], : shape[1], : shape[2]]


def _synthesize(bands: list[Any], levels: int, shape: tuple[int, int, int]) -> Any:
    """:func:`.cdf97.synthesize` on tensors (bands stacked along z): (Z, y, x) float32."""
    approx = bands[0]
    for level in range(levels):
        horizontal, vertical, diagonal = bands[1 + 3 * level : 4 + 3 * level]
        approx = approx[:, : horizontal.shape[1], : horizontal.shape[2]]
        low_y = _inverse_axis(approx, vertical, 2)
        high_y = _inverse_axis(horizontal, diagonal, 2)
        approx = _inverse_axis(low_y, high_y, 1)
    return approx[:, : shape[1], : shape[2]].contiguous()


def _inverse_axis(low_band: Any, high_band: Any, axis: int) -> Any:
    """:func:`.cdf97._inverse_axis` on tensors: the interleaved signal along ``axis`` (1 or 2)."""
    import torch

    low = low_band * _INV_LOW_GAIN
    high = high_band * _INV_HIGH_GAIN
    delta, gamma, beta, alpha = _STEPS
    _update(low, high, delta, axis)
    _predict(high, low, gamma, axis)
    _update(low, high, beta, axis)
    _predict(high, low, alpha, axis)
    shape = list(low.shape)
    shape[axis] *= 2
    return torch.stack((low, high), dim=axis + 1).reshape(shape)


def _predict(high: Any, low: Any, coef: float, axis: int) -> None:
    """high[n] += coef * (low[n] + low[n + 1]) along ``axis``, periodic; in place (as NumPy)."""
    m = low.shape[axis]
    term = low.narrow(axis, 0, m - 1) + low.narrow(axis, 1, m - 1)
    term *= coef
    high.narrow(axis, 0, m - 1).add_(term)
    term = low.narrow(axis, m - 1, 1) + low.narrow(axis, 0, 1)
    term *= coef
    high.narrow(axis, m - 1, 1).add_(term)


def _update(low: Any, high: Any, coef: float, axis: int) -> None:
    """low[n] += coef * (high[n - 1] + high[n]) along ``axis``, periodic; in place (as NumPy)."""
    m = high.shape[axis]
    term = high.narrow(axis, 0, m - 1) + high.narrow(axis, 1, m - 1)
    term *= coef
    low.narrow(axis, 1, m - 1).add_(term)
    term = high.narrow(axis, m - 1, 1) + high.narrow(axis, 0, 1)
    term *= coef
    low.narrow(axis, 0, 1).add_(term)

