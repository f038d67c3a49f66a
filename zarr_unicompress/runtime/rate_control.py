"""Rate control of the ratio mode: the coded size of quantised wavelet bands as a function of
the quantiser step, and the search for the step that fills a byte budget.

Sizes are estimated from a strided sample of the bands' coding units (zeroth-order entropy of
each symbol group plus its frequency table); the encoder then packs real streams and corrects
the step by their measured size (:func:`next_step`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .entropy import estimate_bits
from .wavelet_residual import ZERO_BLOCK, analyze, band_shapes, block_grid, block_peaks, quantize, to_blocks

#: the finest quantiser step (intensity units) the encoder uses; it keeps |q| well inside int32
#: (see :func:`~.wavelet_residual.quantize`).
MIN_STEP = 0.05
#: a detail-band block whose quantised values are at most this many +-1 (and zeros) is coded
#: as all zero: the distortion it adds costs less than its values and flag. On 20 check points
#: (4 ISBI blocks of >= 2**17 voxels x ratios 4-64) PSNR at the target ratio changed by
#: +0.085 dB on average (-0.009 to +0.152); with up to two +-1: +0.101 on average but -0.062
#: on one block at ratio 4; blocks of only +-1 in any number: -0.5 dB (RESULTS.md v0.2.7).
SPARSE_BLOCK_NONZERO = 1
#: estimate sizes on about this many coefficients in all (the same stride in every band).
ESTIMATE_SAMPLES = 1 << 18
#: a step search given a guess first tries [guess / this, guess * this]: a search on 1/8 of
#: the samples lands within a few % of the step on EM data.
GUESS_WIDTH = 1.15
#: a search without a guess takes its guess from a search on this many times fewer samples
#: (where that leaves at least COARSE_MIN_SAMPLES).
COARSE_SHARE = 8
COARSE_MIN_SAMPLES = 1 << 14


@dataclass(frozen=True)
class BandUnits:
    """Wavelet bands in the units they are coded in, for quantising them with any step.

    Attributes:
        units: per band, (n_units, unit_size) float32: its zero blocks of ZERO_BLOCK**2
            coefficients (:func:`~.wavelet_residual.to_blocks`) or, without zero blocks, its
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
        return cls([to_blocks(band) for band in bands], [block_peaks(band) for band in bands], True)

    @classmethod
    def of_signal(cls, signal: np.ndarray, levels: int, base: float | np.ndarray, zero_blocks: bool) -> BandUnits:
        """Coding units of the bands of ``signal - base`` (see :func:`~.wavelet_residual.analyze`):
        in zero blocks, each slab's bands are cut into blocks while the transform has them in
        cache (half the time of cutting the whole bands afterwards)."""
        if not zero_blocks:
            return cls.of(analyze(signal, levels, base), False)
        depth = signal.shape[0]
        grids = [block_grid(shape) for shape in band_shapes(signal.shape, levels)]
        per_slice = [by * bx for _, by, bx in grids]
        units = [np.empty((depth * n, ZERO_BLOCK**2), np.float32) for n in per_slice]
        peaks = [np.empty(depth * n, np.float32) for n in per_slice]

        def cut(slab: slice, slab_bands: list[np.ndarray]) -> None:
            for k, band in enumerate(slab_bands):
                rows = slice(slab.start * per_slice[k], (slab.start + band.shape[0]) * per_slice[k])
                units[k][rows] = to_blocks(band)
                peaks[k][rows] = block_peaks(band)

        analyze(signal, levels, base, cut)
        return cls(units, peaks, True)

    def strided(self, stride: int) -> BandUnits:
        """Every ``stride``-th unit of every band (views)."""
        return BandUnits([u[::stride] for u in self.units], [p[::stride] for p in self.peaks], self.zero_blocks)

    def slices(self, zs: np.ndarray, depth: int) -> BandUnits:
        """The units of the z-slices ``zs`` (int array) of bands ``depth`` slices deep (copies):
        units are in z-major order in both layouts."""
        units = [u.reshape(depth, -1, u.shape[1])[zs].reshape(-1, u.shape[1]) for u in self.units]
        peaks = [p.reshape(depth, -1)[zs].ravel() for p in self.peaks]
        return BandUnits(units, peaks, self.zero_blocks)

    def band_groups(self, band: int, step: float) -> list[np.ndarray]:
        """Symbol groups of ``band`` quantised with ``step`` (intensity units), in stream order:
        its coefficients (int32), or in zero blocks the flags (n_blocks,) int8, 1 where a block
        is coded (see :func:`coded_blocks`), then the flagged blocks' values (int32)."""
        units = self.units[band]
        if not self.zero_blocks:
            return [quantize(units, step).ravel()]
        coded = coded_blocks(units, self.peaks[band], step, detail=band > 0)
        return [coded.view(np.int8), quantize(units[coded], step).ravel()]

    def groups(self, step: float) -> list[np.ndarray]:
        """Symbol groups of all bands quantised with ``step``, in stream order."""
        return [group for band in range(len(self.units)) for group in self.band_groups(band, step)]


def coded_blocks(units: np.ndarray, peaks: np.ndarray, step: float, detail: bool | np.ndarray) -> np.ndarray:
    """Which zero blocks (n_blocks,) bool are coded at ``step``: those holding a non-zero
    quantised value, except detail-band blocks (``detail``: one bool, or one per block) whose
    only non-zero values are at most SPARSE_BLOCK_NONZERO of +-1, which are coded as all zero.

    ``units`` (n_blocks, ZERO_BLOCK**2) float32, ``peaks`` (n_blocks,) their largest |c|. A
    block's largest |q| is its peak's (the quantiser is monotone in |c|), so only blocks whose
    peak quantises to exactly 1 are quantised here, to count their non-zero values.
    """
    peak_q = quantize(peaks, step)
    coded = peak_q != 0
    weak = np.flatnonzero((peak_q == 1) & detail)
    if weak.size:
        nonzero_counts = np.count_nonzero(quantize(units[weak], step), axis=1)
        coded[weak[nonzero_counts <= SPARSE_BLOCK_NONZERO]] = False
    return coded


def table_bits(values: np.ndarray) -> float:
    """Rough size of a frequency table for ``values``: ~3 bytes per distinct symbol."""
    flat = values.ravel()
    return 24.0 * min(flat.size, int(flat.max()) - int(flat.min()) + 1)


class SizeEstimator:
    """Coded size (bits) of quantised bands as a function of the step, from a strided sample of
    their coding units.

    The estimate of every symbol group (flags and values of each band) is its zeroth-order
    entropy times the band's sampling scale plus :func:`table_bits`. The sampled units of all
    bands are kept in one array, so an estimate is a dozen NumPy calls whatever the number of
    bands (one joint histogram keyed by (band, symbol)) instead of a dozen per band: small
    chunks spent half their encode time in per-band calls, and those hold the GIL.
    """

    def __init__(self, bands: BandUnits, samples: int = ESTIMATE_SAMPLES) -> None:
        total = sum(u.size for u in bands.units)
        stride = max(1, total // samples)
        sample = bands.strided(stride)
        lengths = np.array([len(u) for u in sample.units])
        self._zero_blocks = bands.zero_blocks
        self._n_bands = len(lengths)
        self._units = np.concatenate(sample.units)
        self._peaks = np.concatenate(sample.peaks) if bands.zero_blocks else None
        self._band = np.repeat(np.arange(self._n_bands), lengths)
        self._n_units = lengths
        self._scales = np.array([len(u) for u in bands.units]) / np.maximum(lengths, 1)
        coarse_samples = samples // COARSE_SHARE
        self._coarse = (SizeEstimator(bands, coarse_samples)
                        if coarse_samples >= COARSE_MIN_SAMPLES and total // coarse_samples > stride else None)

    def bits(self, step: float) -> float:
        """Estimated bits of all bands quantised with ``step`` (intensity units), tables included."""
        if not self._zero_blocks:
            return _grouped_bits(quantize(self._units, step), self._band, self._n_bands, self._scales)
        nonzero = coded_blocks(self._units, self._peaks, step, detail=self._band > 0)
        ones = np.bincount(self._band[nonzero], minlength=self._n_bands).astype(np.float64)
        flags = (_entropy_bits(ones, self._n_units) + _entropy_bits(self._n_units - ones, self._n_units)) * self._scales
        flag_tables = 24.0 * np.minimum(self._n_units, np.where((ones > 0) & (ones < self._n_units), 2, 1))
        values = _grouped_bits(quantize(self._units[nonzero], step), self._band[nonzero], self._n_bands, self._scales)
        return float(flags.sum() + flag_tables.sum()) + values

    def step_for(self, budget_bits: float, span: int, tolerance: float = 2e-3, guess: float | None = None) -> float:
        """Smallest step (float32-exact, within ``tolerance`` relative, >= MIN_STEP) whose
        estimate fits ``budget_bits``, or one whose estimate is within ``tolerance`` below it;
        ``span`` = hi - lo. The estimate falls with the step about as a power law, so regula
        falsi on (log step, log bits) with the Illinois rule finds the step in a handful of
        estimates where bisection needs fifteen. A ``guess`` (intensity units) near the answer
        narrows the first bracket to [guess / GUESS_WIDTH, guess * GUESS_WIDTH] where it holds
        the answer, which saves about half of the estimates; without one, the search on a
        sample COARSE_SHARE times smaller gives the guess."""
        if guess is None and self._coarse is not None:
            guess = self._coarse.step_for(budget_bits, span, tolerance)
        lo_s, hi_s = MIN_STEP, 64.0 * max(span, 1)
        target = math.log(max(budget_bits, 1.0))

        def excess(step: float) -> float:
            return math.log(max(self.bits(step), 1.0)) - target

        f_lo: float | None = None
        f_hi: float | None = None
        if guess is not None and lo_s * GUESS_WIDTH < guess < hi_s / GUESS_WIDTH:
            coarse, fine = guess * GUESS_WIDTH, guess / GUESS_WIDTH
            f = excess(coarse)
            if f > 0:
                lo_s, f_lo = coarse, f  # the answer is coarser than the bracket
            else:
                hi_s, f_hi = coarse, f
                f = excess(fine)
                if f > 0:
                    lo_s, f_lo = fine, f
                else:
                    hi_s, f_hi = fine, f  # the answer is finer than the bracket
        if f_hi is None:
            f_hi = excess(hi_s)
            if f_hi > 0:
                return hi_s
        if f_lo is None:
            f_lo = excess(lo_s)
            if f_lo <= 0:
                return float(np.float32(lo_s))
        kept = 0  # which end the last step kept: +1 the low one, -1 the high one
        for _ in range(40):
            if hi_s <= lo_s * (1 + tolerance) or f_hi >= -tolerance:
                break  # the step is pinned down, or its estimate fills the budget to within tolerance
            x_lo, x_hi = math.log(lo_s), math.log(hi_s)
            x = x_hi - f_hi * (x_hi - x_lo) / (f_hi - f_lo)
            margin = 1e-3 * (x_hi - x_lo)
            step = math.exp(min(max(x, x_lo + margin), x_hi - margin))
            f = excess(step)
            if f <= 0:
                hi_s, f_hi = step, f
                if kept == 1:
                    f_lo /= 2
                kept = 1
            else:
                lo_s, f_lo = step, f
                if kept == -1:
                    f_hi /= 2
                kept = -1
        return float(np.float32(hi_s))


#: the joint (band, symbol) histogram of an estimate has at most this many bins; wider symbol
#: ranges (very fine steps) are counted band by band.
_JOINT_HISTOGRAM_BINS = 1 << 22


def _entropy_bits(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """-counts * log2(counts / totals) elementwise, 0 where counts is 0 (float64 arrays)."""
    counts = np.asarray(counts, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = -counts * np.log2(counts / np.asarray(totals, np.float64))
    return np.where(counts > 0, bits, 0.0)


def _grouped_bits(q: np.ndarray, band_of_row: np.ndarray, n_bands: int, scales: np.ndarray) -> float:
    """Sum over bands of the zeroth-order entropy (bits) of the symbols in the rows of ``q``
    ((rows, k) int32) that belong to the band, times the band's scale, plus :func:`table_bits`
    of each non-empty band."""
    if q.size == 0:
        return 0.0
    lo, hi = int(q.min()), int(q.max())
    span = hi - lo + 1
    if span * n_bands > _JOINT_HISTOGRAM_BINS:
        total = 0.0
        for band in range(n_bands):
            values = q[band_of_row == band]
            if values.size:
                total += estimate_bits(values) * scales[band] + table_bits(values)
        return total
    key = (q - lo).astype(np.intp)
    key += (band_of_row * span)[:, None]
    counts = np.bincount(key.ravel(), minlength=n_bands * span).reshape(n_bands, span)
    band, symbol = np.nonzero(counts)  # row-major: bands ascending, symbols ascending per band
    c = counts[band, symbol].astype(np.float64)
    sizes = np.bincount(band, weights=c, minlength=n_bands)
    c_log_c = np.bincount(band, weights=c * np.log2(c), minlength=n_bands)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = np.where(sizes > 0, sizes * np.log2(sizes) - c_log_c, 0.0)
    starts = np.flatnonzero(np.diff(band, prepend=-1))
    ends = np.flatnonzero(np.diff(band, append=n_bands))
    spans = symbol[ends] - symbol[starts] + 1
    tables = 24.0 * np.minimum(sizes[band[starts]], spans)
    return float((entropy * scales).sum() + tables.sum())


def next_step(tried: list[tuple[float, int]], budget: float) -> float:
    """Next quantiser step aiming at ``budget`` bytes, from (step, size in bytes) pairs tried so
    far: a secant in (log step, log size) through the last two, else a 2-3 % nudge."""
    step, size = tried[-1]
    if len(tried) >= 2 and tried[-2][1] != size and tried[-2][0] != step:
        s0, n0 = tried[-2]
        slope = (np.log(size) - np.log(n0)) / (np.log(step) - np.log(s0))
        if slope < -0.05:
            target = np.log(budget * 0.993)
            return float(np.exp(np.log(step) + (target - np.log(size)) / slope))
    return step * (1.03 if size > budget else 0.98)
