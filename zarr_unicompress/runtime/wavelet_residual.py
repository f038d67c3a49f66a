"""Wavelet-domain residual of the ratio mode: 2D CDF 9/7 per z-slice, dead-zone quantiser.

The residual (chunk minus prediction, (z, y, x) float32 intensity units) is transformed per
z-slice with ``levels`` levels of the biorthogonal CDF 9/7 wavelet (PyWavelets ``bior4.4``,
periodic extension, so every band has ceil(n / 2**level) samples per axis). Each band is
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

import math
import struct
import warnings
from dataclasses import dataclass

import numpy as np
import pywt

from ..errors import ChunkCorrupt

WAVELET = "bior4.4"
MAX_LEVELS = 5
#: rounding offset of the dead-zone quantiser (0.5 is plain rounding).
DEADZONE_ROUNDING = 0.35
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


def band_shapes(shape: tuple[int, int, int], levels: int) -> list[tuple[int, int, int]]:
    """Shapes of the bands in coding order for a chunk of ``shape`` and ``levels`` levels."""
    z, y, x = shape
    per_level = []
    for _ in range(levels):
        y, x = -(-y // 2), -(-x // 2)
        per_level.append((z, y, x))
    if not levels:
        return [shape]
    return [per_level[-1]] + [s for s in reversed(per_level) for _ in range(3)]


def analyze(residual: np.ndarray, levels: int) -> list[np.ndarray]:
    """Bands (float32, intensity units) of a (z, y, x) residual in coding order.

    float32 keeps the transform (most of the encode time) at a third of its float64 cost; the
    encoder quantises these bands, so their precision only moves a coefficient that lies on a
    quantiser boundary, never the decoder's result for a given stream.
    """
    if not levels:
        return [residual.astype(np.float32)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        coeffs = pywt.wavedec2(residual.astype(np.float32), WAVELET, mode="periodization", level=levels,
                               axes=(1, 2))
    return [coeffs[0]] + [band for detail in coeffs[1:] for band in detail]


def synthesize(bands: list[np.ndarray], levels: int, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of :func:`analyze`, cropped to ``shape``: (z, y, x), in the bands' float dtype.

    The decoder passes float32 bands: half the memory traffic of float64 (the inverse transform
    is most of the decode time), and a float32 rounding error of a few 1e-5 intensity units
    can move a voxel by at most 1 when the result is rounded.
    """
    if not levels:
        return bands[0]
    coeffs = [bands[0]] + [tuple(bands[1 + 3 * i : 4 + 3 * i]) for i in range(levels)]
    out = pywt.waverec2(coeffs, WAVELET, mode="periodization", axes=(1, 2))
    return out[: shape[0], : shape[1], : shape[2]]


def quantize(band: np.ndarray, step: float) -> np.ndarray:
    """Dead-zone quantisation of a float32 band: int32 of the band's shape. |q| < 2**31 for
    the encoder's steps (>= 0.05): five levels of the 2D transform scale a 16-bit range by at
    most 2**5, so coefficients stay below 2**22."""
    q = np.abs(band)
    q /= step
    q += DEADZONE_ROUNDING
    np.floor(q, out=q)
    np.copysign(q, band, out=q)
    return q.astype(np.int32)


def block_grid(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Number of ZERO_BLOCK x ZERO_BLOCK blocks along (z, y, x) of a band of ``shape``."""
    z, y, x = shape
    return z, -(-y // ZERO_BLOCK), -(-x // ZERO_BLOCK)


def to_blocks(band: np.ndarray) -> np.ndarray:
    """(z, y, x) band -> (n_blocks, ZERO_BLOCK**2) copy in block order, zero-padded at the far edges."""
    z, by, bx = block_grid(band.shape)
    b = ZERO_BLOCK
    if (by * b, bx * b) != band.shape[1:]:
        padded = np.zeros((z, by * b, bx * b), band.dtype)
        padded[:, : band.shape[1], : band.shape[2]] = band
        band = padded
    return band.reshape(z, by, b, bx, b).transpose(0, 1, 3, 2, 4).reshape(-1, b * b)


def from_blocks(nonzero: np.ndarray, values: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of :func:`to_blocks` given the blocks' flags (n_blocks,) bool and the values of
    the flagged blocks (n_flagged * ZERO_BLOCK**2,): the band (z, y, x) in ``values``' dtype."""
    z, by, bx = block_grid(shape)
    b = ZERO_BLOCK
    blocks = np.zeros((nonzero.size, b * b), values.dtype)
    blocks[nonzero] = values.reshape(-1, b * b)
    band = blocks.reshape(z, by, bx, b, b).transpose(0, 1, 3, 2, 4).reshape(z, by * b, bx * b)
    return np.ascontiguousarray(band[:, : shape[1], : shape[2]])

