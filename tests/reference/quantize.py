"""NumPy references of the quantise stage's loops (:mod:`.quantize_loops`): the dead-zone
quantiser, its thresholds, which zero blocks are coded and their quantised values."""

from __future__ import annotations

import numpy as np

from zarr_unicompress.runtime.quantize.band_units import SPARSE_BLOCK_NONZERO
from zarr_unicompress.runtime.transform.wavelet_residual import DEADZONE_ROUNDING


def quantize(band: np.ndarray, step: float) -> np.ndarray:
    """Dead-zone quantisation, int32 of the band's shape: trunc(c / step + copysign(0.35, c))
    in float32, i.e. sign(c) * floor(|c| / step + 0.35)."""
    scaled = np.asarray(band, np.float32) / np.float32(step)
    scaled += np.copysign(np.float32(DEADZONE_ROUNDING), scaled)
    return scaled.astype(np.int32)


def magnitude_threshold(step: float, level: int = 1) -> np.float32:
    """The smallest float32 magnitude that :func:`quantize` maps to a value of magnitude
    ``level`` (>= 1) or more with ``step``: |c| >= this exactly where |quantize(c, step)| >=
    level (the quantiser depends on |c| only and is monotone in it).

    Found with :func:`quantize` itself as the test: among the 33 float32 values around
    (level - DEADZONE_ROUNDING) * step (float32 rounding puts the threshold within an ulp or two
    of it), else by bisection on the bit patterns of positive float32s, which are ordered as
    their values."""
    guess = int(np.array((level - DEADZONE_ROUNDING) * step, np.float32).view(np.int32))
    near = np.arange(max(guess - 16, 0), guess + 17, dtype=np.int32)
    reached = np.abs(quantize(near.view(np.float32), step)) >= level
    if not reached[0] and reached[-1]:
        return near.view(np.float32)[int(np.argmax(reached))]
    low = 0  # bits of 0.0, which quantises to 0
    high = int(np.array(level * step, np.float32).view(np.int32))  # c = level * step reaches level
    while high - low > 1:
        mid = (low + high) // 2
        if abs(int(quantize(np.array([mid], np.int32).view(np.float32), step)[0])) >= level:
            high = mid
        else:
            low = mid
    return np.array(high, np.int32).view(np.float32)[()]


def band_groups(units: np.ndarray, peaks: np.ndarray, step: float, detail: bool) -> list[np.ndarray]:
    """:meth:`.band_units.BandUnits.band_groups` of one band in zero blocks: the flags (n,) int8
    and the coded blocks' values quantised with ``step``, (n_coded * 16,) int32."""
    coded = coded_blocks(units, peaks, step, detail)
    return [coded.view(np.int8), quantize(units[coded], step).ravel()]


def coded_blocks(units: np.ndarray, peaks: np.ndarray, step: float, detail: bool | np.ndarray) -> np.ndarray:
    """Which zero blocks (n_blocks,) bool are coded at ``step``: those holding a non-zero
    quantised value, except detail-band blocks (``detail``: one bool, or one per block) whose
    only non-zero values are at most SPARSE_BLOCK_NONZERO of +-1, which are coded as all zero.

    ``units`` (n_blocks, ZERO_BLOCK**2) float32, ``peaks`` (n_blocks,) their largest |c|. A
    block's largest |q| is its peak's (the quantiser is monotone in |c|), so the flags are
    comparisons of the peaks with the magnitudes where |q| reaches 1 and 2
    (:func:`~.wavelet_residual.magnitude_threshold`), and only blocks whose peak quantises to
    exactly 1 are looked into, to count their values that reach 1.
    """
    one, two = magnitude_threshold(step, 1), magnitude_threshold(step, 2)
    coded = peaks >= one
    weak = np.flatnonzero(coded & (peaks < two) & detail)
    if weak.size:
        nonzero_counts = np.count_nonzero(np.abs(units[weak]) >= one, axis=1)
        coded[weak[nonzero_counts <= SPARSE_BLOCK_NONZERO]] = False
    return coded

