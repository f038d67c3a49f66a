"""Wavelet-domain residual of the ratio mode: 2D CDF 9/7 per z-slice, dead-zone quantiser.

The residual (chunk minus prediction, (z, y, x) float32 intensity units) is transformed per
z-slice with ``levels`` levels of the biorthogonal CDF 9/7 wavelet (PyWavelets ``bior4.4``,
periodic extension, so every band has ceil(n / 2**level) samples per axis), computed by
lifting in :mod:`.cdf97`. Each band is
quantised with one step ``step`` (intensity units): q = sign(c) * floor(|c| / step + 0.35)
and reconstructed as q * step. Band order is coarse to fine: the approximation band, then
(horizontal, vertical, diagonal) details from the coarsest level to the finest.

In chunks of at least ``chunk_codec.ZERO_BLOCK_MIN_VOXELS`` voxels (flag FLAG_ZERO_BLOCKS;
smaller chunks code every coefficient in C order), each quantised band is coded in blocks of
ZERO_BLOCK x ZERO_BLOCK coefficients along (y, x)
(the band zero-padded to whole blocks, blocks in C order over (z, block row, block column),
coefficients in C order inside a block): first one flag per block (1: the block holds a
non-zero coefficient), then the coefficients of the flagged blocks. On EM data this saves
about 2 % of the bits at ratios 4-8 and a third of the symbols the decoder must decode.

The quantised integers are what is entropy-coded, so decoding never depends on a float result
for its symbols; the inverse transform is float32 and can move a voxel by at most one
intensity unit across machines, never corrupt a chunk.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...errors import ChunkCorrupt
from . import cdf97
from .. import numba_support
from .cdf97 import band_shapes  # noqa: F401  (shapes of the bands in coding order)

WAVELET = "bior4.4"
MAX_LEVELS = 5
#: rounding offset of the dead-zone quantiser (0.5 is plain rounding).
DEADZONE_ROUNDING = 0.35
#: the same as the loops take it.
_ROUNDING = np.float32(DEADZONE_ROUNDING)
_PARAMS = struct.Struct("<fBi")
#: side (along y and x) of the blocks whose being all zero is coded as one flag.
ZERO_BLOCK = 4


@dataclass(frozen=True)
class WaveletParams:
    """Side information of a wavelet residual: quantiser step (float32-exact), levels, flat base."""

    step: float
    levels: int
    flat_value: int = 0

    def pack(self) -> bytes:
        return _PARAMS.pack(self.step, self.levels, self.flat_value)

    @classmethod
    def unpack(cls, data: bytes) -> WaveletParams:
        if len(data) != _PARAMS.size:
            raise ChunkCorrupt(f"chunk wavelet parameters are {len(data)} bytes, expected {_PARAMS.size}")
        step, levels, flat = _PARAMS.unpack(data)
        if not (math.isfinite(step) and step > 0) or levels > MAX_LEVELS:
            raise ChunkCorrupt(f"chunk wavelet parameters are invalid (step {step}, levels {levels})")
        return cls(step, levels, flat)


def levels_for(shape: tuple[int, int, int]) -> int:
    """Levels used for a chunk of ``shape`` (z, y, x): coarsest band at least 8 samples, <= MAX_LEVELS.

    Periodic extension keeps every level exactly invertible, so levels beyond PyWavelets'
    boundary-effect limit are allowed (and its warning about them is silenced).
    """
    return int(np.clip(int(math.log2(min(shape[1:]))) - 3, 0, MAX_LEVELS))


def analyze(signal: np.ndarray, levels: int, base: float | np.ndarray = 0.0,
            consume: Callable[[slice, list[np.ndarray]], None] | None = None) -> list[np.ndarray] | None:
    """Bands (float32, intensity units) of the residual ``signal - base`` in coding order;
    ``signal`` (z, y, x) of any real dtype, ``base`` a number or an array of its shape. With
    ``consume``, each slab's bands are handed to it instead (see :func:`.cdf97.analyze`).

    float32 lifting (:mod:`.cdf97`); the encoder quantises these bands, so their precision
    only moves a coefficient that lies on a quantiser boundary, never the decoder's result for
    a given stream.
    """
    if not levels:
        residual = cdf97.difference(signal, base)
        if consume is None:
            return [residual]
        consume(slice(0, signal.shape[0]), [residual])
        return None
    return cdf97.analyze(signal, levels, base, consume)


def synthesize(bands: list[np.ndarray], levels: int, shape: tuple[int, int, int],
               consume: Callable[[slice, np.ndarray], None] | None = None) -> np.ndarray | None:
    """Inverse of :func:`analyze`, cropped to ``shape``: (z, y, x) float32; or, with
    ``consume``, each slab along z handed to it (see :func:`.cdf97.synthesize`).

    float32 lifting (:mod:`.cdf97`): its rounding error of a few 1e-5 of the coefficients'
    magnitude moves a rounded voxel by at most 1 (measured against PyWavelets' float32
    convolution: 0.13 % of the voxels of 16 ratio-mode streams differ, all by 1).
    """
    if not levels:
        residual = bands[0].astype(np.float32, copy=False)
        if consume is None:
            return residual
        consume(slice(0, shape[0]), residual.copy())
        return None
    return cdf97.synthesize(bands, levels, shape, consume)


def quantize(band: np.ndarray, step: float) -> np.ndarray:
    """Dead-zone quantisation of a float32 band: int32 of the band's shape,
    q = sign(c) * floor(|c| / step + DEADZONE_ROUNDING) in float32
    (:func:`.quantize_loops.quantize_one`). |q| < 2**31 for the encoder's steps (>= 0.05): five
    levels of the 2D transform scale a 16-bit range by at most 2**5, so coefficients stay
    below 2**22."""
    flat = np.ascontiguousarray(band, np.float32).reshape(-1)
    out = np.empty(flat.size, np.int32)
    numba_support.loops("quantize.quantize_loops").quantize_values(flat, np.float32(step), _ROUNDING, out)
    return out.reshape(np.shape(band))


@functools.lru_cache(maxsize=512)
def magnitude_threshold(step: float, level: int = 1) -> np.float32:
    """The smallest float32 magnitude that :func:`quantize` maps to a value of magnitude
    ``level`` (>= 1) or more with ``step``: |c| >= this exactly where |quantize(c, step)| >=
    level (:func:`.quantize_loops.magnitude_threshold`). Cached: rate control asks for the same
    steps band after band."""
    return np.float32(numba_support.loops("quantize.quantize_loops").magnitude_threshold(
        np.float32(step), level, _ROUNDING))


def block_grid(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Number of ZERO_BLOCK x ZERO_BLOCK blocks along (z, y, x) of a band of ``shape``."""
    z, y, x = shape
    return z, -(-y // ZERO_BLOCK), -(-x // ZERO_BLOCK)


def cut_into_blocks(band: np.ndarray, units: np.ndarray, peaks: np.ndarray) -> None:
    """The zero blocks of ``band`` (z, y, x) float32 into ``units`` (n_blocks, ZERO_BLOCK**2)
    float32, in block order (z, block row, block column; row-major inside a block), zero-padded
    at the far edges of y and x, and each block's largest |coefficient| into ``peaks``
    (n_blocks,) float32: one pass of :func:`.block_loops.cut`. Other shapes or dtypes raise
    ValueError (the loop checks no index)."""
    z, by, bx = block_grid(band.shape)
    if units.shape != (z * by * bx, ZERO_BLOCK**2) or peaks.shape != (z * by * bx,):
        raise ValueError(f"a band of shape {band.shape} has {z * by * bx} blocks: units {units.shape} "
                         f"and peaks {peaks.shape} do not fit")
    if not band.dtype == units.dtype == peaks.dtype == np.float32 or band.ndim != 3:
        raise ValueError(f"zero blocks are cut from float32 bands into float32 arrays, got {band.dtype} "
                         f"{band.ndim}D into {units.dtype} and {peaks.dtype}")
    numba_support.loops("transform.block_loops").cut(band, units, peaks, ZERO_BLOCK)
