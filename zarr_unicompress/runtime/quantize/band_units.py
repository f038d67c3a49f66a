"""The ratio mode's coding units: quantised wavelet bands as the stream codes them.

In: a chunk (z, y, x) and its base (the bands of their difference), or the bands; out: per
band its zero blocks (4 x 4 coefficients, float32) and their peaks, and, for a quantiser
step, the symbol groups the entropy coder takes (block flags and the coded blocks' values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..transform import cdf97
from .. import numba_support
from ..transform.wavelet_residual import (
    DEADZONE_ROUNDING,
    ZERO_BLOCK,
    analyze,
    band_shapes,
    block_grid,
    cut_into_blocks,
    magnitude_threshold,
    quantize,
)

#: the quantiser's rounding offset as the compiled loops take it.
_ROUNDING = np.float32(DEADZONE_ROUNDING)
#: on one block at ratio 4; blocks of only +-1 in any number: -0.5 dB (RESULTS.md v0.2.7).
SPARSE_BLOCK_NONZERO = 1


@dataclass(frozen=True)
class BandUnits:
    """Wavelet bands in the units they are coded in, for quantising them with any step.

    Attributes:
        units: per band, (n_units, unit_size) float32: its zero blocks of ZERO_BLOCK**2
            coefficients (:func:`~.wavelet_residual.cut_into_blocks`) or, without zero blocks, its
            coefficients in C order as (n, 1).
        peaks: per band, (n_units,) float32 largest |coefficient| of each block (zero blocks
            only, else empty): a block quantises to all zeros exactly when its peak does, since
            the quantiser is monotone in |c|, so the flags need no pass over the coefficients.
        zero_blocks: whether the bands are coded in zero blocks.
    """

    units: list[np.ndarray]
    peaks: list[np.ndarray]
    zero_blocks: bool

    @classmethod
    def of(cls, bands: list[np.ndarray], zero_blocks: bool) -> BandUnits:
        """Coding units of ``bands`` (float32, coding order)."""
        if not zero_blocks:
            return cls([band.reshape(-1, 1) for band in bands], [], False)
        units, peaks = _empty_blocks([(band.shape, band.dtype) for band in bands])
        for band, band_units, band_peaks in zip(bands, units, peaks):
            cut_into_blocks(np.ascontiguousarray(band), band_units, band_peaks)
        return cls(units, peaks, True)

    @classmethod
    def of_signal(cls, signal: np.ndarray, levels: int, base: float | np.ndarray, zero_blocks: bool) -> BandUnits:
        """Coding units of the bands of ``signal - base`` (see :func:`~.wavelet_residual.analyze`):
        in zero blocks, each slab's bands are cut into blocks while the transform has them in
        cache (half the time of cutting the whole bands afterwards)."""
        if not zero_blocks:
            return cls.of(analyze(signal, levels, base), False)
        shapes = band_shapes(signal.shape, levels)
        units, peaks = _empty_blocks([(shape, np.float32) for shape in shapes])
        if cdf97.analyze_into_blocks(signal, levels, base, units, peaks, ZERO_BLOCK):
            return cls(units, peaks, True)
        per_slice = [by * bx for _, by, bx in (block_grid(shape) for shape in shapes)]

        def cut(slab: slice, slab_bands: list[np.ndarray]) -> None:
            for k, band in enumerate(slab_bands):
                rows = slice(slab.start * per_slice[k], (slab.start + band.shape[0]) * per_slice[k])
                cut_into_blocks(band, units[k][rows], peaks[k][rows])

        analyze(signal, levels, base, cut)
        return cls(units, peaks, True)

    @classmethod
    def about_mean(cls, signal: np.ndarray, levels: int, zero_blocks: bool, lo: int, hi: int) -> tuple[BandUnits, int]:
        """Coding units of the bands of ``signal - flat`` (see :meth:`of_signal`) and ``flat``:
        ``signal``'s mean (intensity units) rounded and clipped to [``lo``, ``hi``].

        Both come from the bands of ``signal`` itself: the transform (periodic extension, DC
        gain sqrt(2) per axis and level) maps a constant c to c * 2**levels in the approximation
        band and to zeros elsewhere, so subtracting flat * 2**levels from that band gives the
        bands of ``signal - flat`` up to float32 rounding, and where y and x are multiples of
        2**levels that band's mean over 2**levels is the signal's mean. This saves a pass over
        the chunk for its mean and one for the difference. Other shapes (edge chunks) take the
        mean of ``signal``: a level on an odd length repeats the last sample, which weighs the
        far edge more (by up to 27 intensity units in a 6000-unit range on a (5, 45, 70) chunk).
        """
        units = cls.of_signal(signal, levels, 0.0, zero_blocks)
        approx = units.units[0]
        shape = band_shapes(signal.shape, levels)[0]
        gain = float(2**levels)
        if any(size % (1 << levels) for size in signal.shape[1:]):
            mean = float(signal.mean())
        else:
            mean = float(approx.sum(dtype=np.float64)) / (math.prod(shape) * gain)  # block padding is 0
        flat = int(np.clip(np.rint(mean), lo, hi))
        offset = np.float32(flat * gain)
        if not zero_blocks:
            approx -= offset
            return units, flat
        inside, _ = _empty_blocks([(shape, np.float32)])  # 1 inside the band, 0 in the blocks' zero padding
        cut_into_blocks(np.ones(shape, np.float32), inside[0], np.empty(len(approx), np.float32))
        approx[inside[0].astype(bool)] -= offset
        units.peaks[0][:] = np.abs(approx).max(axis=1)
        return units, flat

    def strided(self, strides: list[int]) -> BandUnits:
        """Every ``strides[k]``-th unit of band k (views)."""
        return BandUnits([u[::k] for u, k in zip(self.units, strides)],
                         [p[::k] for p, k in zip(self.peaks, strides)], self.zero_blocks)

    def slices(self, zs: np.ndarray, depth: int) -> BandUnits:
        """The units of the z-slices ``zs`` (ascending int array) of bands ``depth`` slices
        deep: units are in z-major order in both layouts, so consecutive slices are views and
        others copies."""
        pick: slice | np.ndarray = zs
        if len(zs) and np.array_equal(zs, np.arange(zs[0], zs[0] + len(zs))):
            pick = slice(int(zs[0]), int(zs[0]) + len(zs))
        units = [u.reshape(depth, -1, u.shape[1])[pick].reshape(-1, u.shape[1]) for u in self.units]
        peaks = [p.reshape(depth, -1)[pick].reshape(-1) for p in self.peaks]
        return BandUnits(units, peaks, self.zero_blocks)

    def band_groups(self, band: int, step: float) -> list[np.ndarray]:
        """Symbol groups of ``band`` quantised with ``step`` (intensity units), in stream order:
        its coefficients (int32), or in zero blocks the flags (n_blocks,) int8, 1 where a block
        is coded (see :func:`.quantize_loops.is_coded`), then the flagged blocks' values (int32)."""
        units = self.units[band]
        if not self.zero_blocks:
            return [quantize(units, step).ravel()]
        flags = np.empty(len(units), np.int8)
        values = numba_support.loops("quantize.quantize_loops").coded_values(
            units, self.peaks[band], band > 0, np.float32(step), _ROUNDING, magnitude_threshold(step, 1),
            magnitude_threshold(step, 2), SPARSE_BLOCK_NONZERO, flags)
        return [flags, values]

    def groups(self, step: float) -> list[np.ndarray]:
        """Symbol groups of all bands quantised with ``step``, in stream order."""
        return [group for band in range(len(self.units)) for group in self.band_groups(band, step)]


def _empty_blocks(bands: list[tuple[tuple[int, int, int], np.dtype]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Uninitialised zero-block units (n_blocks, ZERO_BLOCK**2) and peaks (n_blocks,) for bands
    of these (shape, dtype)."""
    counts = [(math.prod(block_grid(shape)), dtype) for shape, dtype in bands]
    return [np.empty((n, ZERO_BLOCK**2), dtype) for n, dtype in counts], [np.empty(n, dtype) for n, dtype in counts]
