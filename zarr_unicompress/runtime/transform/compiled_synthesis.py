"""Ratio-mode reconstruction by the loops of :mod:`.synthesis_loops` (compiled by numba, see
:mod:`..numba_support`): the bands dequantised into one float32 buffer, then one call for the
inverse transform, base, rounding and clipping of the whole chunk; few Python-level calls, so
that threads decoding at once wait little for the GIL."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from ...errors import ChunkCorrupt
from .cdf97 import INVERSE_STEPS, slab_slices
from .wavelet_residual import ZERO_BLOCK, band_shapes, block_grid


def synthesize_chunk(compiled: ModuleType, bands: list[tuple[np.ndarray | None, np.ndarray]], levels: int,
                     step: np.float32, base: np.float32 | np.ndarray, lo: int, hi: int, out: np.ndarray) -> None:
    """Write into ``out`` (z, y, x; the chunk's integer dtype) the chunk whose quantised
    ``bands`` (coding order, as :class:`..coders.ratio.CodedWavelet` holds them: (zero-block flags
    or None, values)) times ``step`` (intensity units) are the wavelet coefficients (``levels``
    levels) of its difference from ``base`` (a number, or an array of ``out``'s shape), rounded
    and clipped to [lo, hi].

    Raises :class:`ChunkCorrupt` where a band's sizes do not fit its shape or a dequantised
    coefficient overflows float32."""
    shapes = band_shapes(out.shape, levels)
    sizes = [math.prod(shape) for shape in shapes]
    offsets = np.zeros(len(shapes), np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    flat = np.empty(int(sum(sizes)), np.float32)
    for (nonzero, values), shape, offset, size in zip(bands, shapes, offsets.tolist(), sizes, strict=True):
        band = flat[offset : offset + size].reshape(shape)
        if nonzero is None:  # streams written before zero blocks (v0.2.0-v0.2.4)
            if values.size != size:
                raise ChunkCorrupt(f"chunk band holds {values.size} values where its shape {shape} needs {size}")
            with np.errstate(over="ignore", invalid="ignore"):
                np.multiply(values.reshape(shape).astype(np.float32), step, out=band)
            continue
        n_blocks = math.prod(block_grid(shape))
        if nonzero.shape != (n_blocks,) or values.size != int(np.count_nonzero(nonzero)) * ZERO_BLOCK**2:
            raise ChunkCorrupt(f"chunk band of shape {shape} holds {nonzero.size} block flags and {values.size} "
                               "values that do not fit it; the chunk is damaged")
        with np.errstate(over="ignore", invalid="ignore"):
            compiled.dequantize_blocks(nonzero.view(np.uint8), values, step, band)
    is_array = isinstance(base, np.ndarray)
    if is_array and base.shape != out.shape:
        raise ValueError(f"base of shape {base.shape} for a chunk of shape {out.shape}")
    with np.errstate(over="ignore", invalid="ignore"):  # (plain loops) a forged stream may overflow: checked
        answer = compiled.synthesize_into(flat, offsets, np.array(shapes, np.int64).reshape(-1, 3), levels,
                                          slab_slices(out.shape), base if is_array else out[:0],
                                          is_array, np.float32(0.0 if is_array else base), np.float32(lo),
                                          np.float32(hi), INVERSE_STEPS, out)
    if answer != compiled.FINISHED:
        raise ChunkCorrupt("chunk wavelet coefficients overflow when dequantised; the chunk is damaged")


def synthesize_dequantized(compiled: ModuleType, buffer: np.ndarray, offsets: np.ndarray, shapes: np.ndarray,
                           levels: int, base: np.float32, lo: int, hi: int, out: np.ndarray) -> None:
    """Write into ``out`` (z, y, x; the chunk's integer dtype) the inverse 2D wavelet of bands
    already dequantised, plus the flat ``base``, rounded and clipped to [lo, hi]: the bands (coding
    order, float32) lie in ``buffer`` at ``offsets`` (n,) int64 with ``shapes`` (n, 3) int64. By
    :func:`.synthesis_loops.synthesize_into` of ``compiled`` (:mod:`.synthesis_loops`). Raises
    :class:`ChunkCorrupt` where a value is not finite (a forged stream's coefficients overflowed)."""
    with np.errstate(over="ignore", invalid="ignore"):  # (plain loops) a forged stream may overflow: checked
        answer = compiled.synthesize_into(buffer, offsets, shapes, levels, slab_slices(out.shape), out[:0], False,
                                          np.float32(base), np.float32(lo), np.float32(hi), INVERSE_STEPS, out)
    if answer != compiled.FINISHED:
        raise ChunkCorrupt("chunk wavelet coefficients overflow when dequantised; the chunk is damaged")
