"""Rate control of the ratio mode: the coded size of quantised wavelet bands as a function of
the quantiser step, and the search for the step that fills a byte budget.

Sizes are estimated from a sample of the bands' coding units (zeroth-order entropy of each
symbol group plus its frequency table): a stride through every band, then, once the search
knows roughly where the step lies, the blocks that can be coded there; the encoder then packs
real streams and corrects the step by their measured size (:func:`next_step`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import numba_support
from .band_units import _ROUNDING, SPARSE_BLOCK_NONZERO, BandUnits
from ..transform.wavelet_residual import ZERO_BLOCK, magnitude_threshold

#: the finest quantiser step (intensity units) the encoder uses; it keeps |q| well inside int32
#: (see :func:`~.wavelet_residual.quantize`).
MIN_STEP = 0.05
#: a detail-band block whose quantised values are at most this many +-1 (and zeros) is coded
#: as all zero: the distortion it adds costs less than its values and flag. On 20 check points
#: (4 ISBI blocks of >= 2**17 voxels x ratios 4-64) PSNR at the target ratio changed by
#: +0.085 dB on average (-0.009 to +0.152); with up to two +-1: +0.101 on average but -0.062
#: estimate sizes on about this many coefficients in all (spread over the bands by
#: :func:`sample_strides`).
ESTIMATE_SAMPLES = 1 << 18
#: a step search given a guess first probes guess * this and guess / this: a search on 1/8 of
#: the samples (to COARSE_TOLERANCE) lands within 1 % of the step on EM data.
GUESS_WIDTH = 1.04
#: relative tolerance of the search that only gives the guess.
COARSE_TOLERANCE = 5e-3
#: a search without any guess probes down from 64 * span by this factor.
NO_GUESS_FACTOR = 8.0
#: a search without a guess takes its guess from a search on this many times fewer samples
#: (where that leaves at least COARSE_MIN_SAMPLES).
COARSE_SHARE = 8
COARSE_MIN_SAMPLES = 1 << 14
#: a focused sample (:meth:`SizeEstimator.focus`) serves steps down to this share of its step ...
FOCUS_LOWEST = 0.75
#: ... and is drawn where at most this share of the blocks can be coded there.
FOCUS_MAX_SHARE = 0.5


def sample_strides(band_sizes: list[int], samples: int, whole_on_top: bool = False) -> list[int]:
    """Sampling stride (in units) of each band for about ``samples`` coefficients in all, or
    (``whole_on_top``) for ``samples`` besides the bands taken whole.

    Bands of at most ``samples // 4`` coefficients are taken whole: a stride through a small
    band's few blocks in block order takes the same columns of blocks in every slice (a band of
    2 x 2 blocks per slice and stride 4 is its corner block), and (16, 256, 256) EM chunks
    were coded up to 7.6 % above estimates from such samples. The other bands share the
    rest of the samples with one odd stride, which walks through all columns of their
    power-of-two block grids.
    """
    whole = [size <= samples // 4 for size in band_sizes]
    rest = sum(size for size, w in zip(band_sizes, whole) if not w)
    if not rest:
        return [1] * len(band_sizes)
    kept = sum(size for size, w in zip(band_sizes, whole) if w)
    stride = max(1, rest // (samples if whole_on_top else max(samples - kept, samples // 4)))
    stride += 1 - stride % 2
    return [1 if w else stride for w in whole]


class SizeEstimator:
    """Coded size (bits) of quantised bands as a function of the step, from a sample of their
    coding units.

    The estimate of every symbol group (flags and values of each band) is
    :func:`.estimate_loops.band_bits`: its zeroth-order entropy times the band's sampling scale
    plus its frequency table. The sampled units of all bands are kept in one array, so an
    estimate is one call (:func:`.estimate_loops.sample_bits`, one joint histogram keyed by
    (band, symbol); :func:`.estimate_loops.sample_bits_by_band` where that histogram would be
    too wide) whatever the number of bands: small chunks spent half their encode time in
    per-band calls, and those hold the GIL.

    The sample is first a stride through every band (:func:`sample_strides`). Once a step
    search has a first answer (the guess, or the coarse sample's answer), the zero-block
    sample is drawn from the blocks that can be coded at steps down to FOCUS_LOWEST times
    that answer (:meth:`focus`), where those are at most FOCUS_MAX_SHARE of all: the others
    quantise to zeros there and only count as zero flags, so the samples go where the bits
    are. On the (30, 512, 512) EM block at ratio 64 a fifth of the blocks can be coded, and
    the mid bands, which hold most of the bits, are sampled 1 in 5 instead of 1 in 55: over
    15 budgets within 1 % of each other the coded size was 1.26 % above the strided estimate
    (the same sample each time) and is 0.21 % below the focused one on average, sd 0.42 %
    (benchmarks/bench_rate_control.py, RESULTS.md v0.2.9).
    """

    def __init__(self, bands: BandUnits, samples: int = ESTIMATE_SAMPLES, table_weight: float = 1.0) -> None:
        """Estimator of ``bands`` from about ``samples`` coefficients; frequency tables count
        ``table_weight`` times (a share < 1 where the bands are that share of a chunk and
        their sizes are compared with other estimates of the same share: a table is written
        once per chunk, whatever the share)."""
        self._table_weight = table_weight
        self._bands, self._samples = bands, samples
        self._totals = np.array([len(u) for u in bands.units], np.float64)
        self._zero_blocks = bands.zero_blocks
        self._strides = sample_strides([u.size for u in bands.units], samples)
        stride = max(self._strides)
        self._units: np.ndarray | None = None  # the sample, drawn by the first estimate or focus
        self._lowest_step = 0.0
        self._focus_tried = False
        total = sum(u.size for u in bands.units)
        coarse_samples = samples // COARSE_SHARE
        self._coarse = (SizeEstimator(bands, coarse_samples)
                        if coarse_samples >= COARSE_MIN_SAMPLES and total // coarse_samples > stride else None)

    def _sample_strided(self) -> None:
        """Sample every band with :func:`sample_strides`' strides."""
        sample = self._bands.strided(self._strides)
        peaks = np.concatenate(sample.peaks) if self._zero_blocks else None
        self._keep(np.concatenate(sample.units), peaks, np.array([len(u) for u in sample.units]), self._totals)
        self._lowest_step = 0.0

    def focus(self, step: float) -> None:
        """Sample, for estimates at steps >= FOCUS_LOWEST * ``step`` (intensity units), only the
        zero blocks that can be coded there: those whose peak reaches the magnitude that
        quantises to 1 at the lowest such step. The others are all-zero blocks at every such
        step (the quantiser is monotone in |c| and in the step). Bands of at most a quarter of
        the samples in such blocks are taken whole, the rest share all ``samples`` with one odd
        stride. An estimate at a lower step goes back to the strided sample first. Does
        nothing without zero blocks, or where more than FOCUS_MAX_SHARE of the blocks can be
        coded (there the strided sample was within 0.7 % at ratios 4-16 and a focused one
        would be no smaller)."""
        if not self._zero_blocks:
            return
        lowest = float(np.float32(step * FOCUS_LOWEST))
        one = magnitude_threshold(lowest, 1)
        candidates = [np.flatnonzero(peaks >= one) for peaks in self._bands.peaks]
        counts = np.array([len(c) for c in candidates], np.float64)
        if counts.sum() > FOCUS_MAX_SHARE * self._totals.sum():
            return  # most blocks can be coded: the strided sample serves as well
        strides = sample_strides([len(c) * ZERO_BLOCK**2 for c in candidates], self._samples, whole_on_top=True)
        self._sample_rows([c[::k] for c, k in zip(candidates, strides)], counts)
        self._lowest_step = lowest

    def _sample_rows(self, rows: list[np.ndarray], pools: np.ndarray) -> None:
        """Keep the zero blocks ``rows[k]`` (int array) of each band k, each band's standing for
        its ``pools[k]`` units, copied once into the sample's arrays (``np.take`` into their
        slices, not into a copy per band that is then concatenated)."""
        bands = self._bands
        lengths = np.array([len(r) for r in rows])
        ends = np.cumsum(lengths)
        units = np.empty((int(ends[-1]), bands.units[0].shape[1]), bands.units[0].dtype)
        peaks = np.empty(int(ends[-1]), bands.peaks[0].dtype)
        for k, (picked, end) in enumerate(zip(rows, ends)):
            np.take(bands.units[k], picked, axis=0, out=units[end - len(picked):end])
            np.take(bands.peaks[k], picked, out=peaks[end - len(picked):end])
        self._keep(units, peaks, lengths, pools)

    def _keep(self, units: np.ndarray, peaks: np.ndarray | None, lengths: np.ndarray, pools: np.ndarray) -> None:
        """Keep a sample: ``units`` (n, unit_size) of all bands in band order, ``lengths[k]``
        of band k, which stands for the ``pools[k]`` units of the band it is drawn from (all its
        units, or those that can be coded); their ``peaks`` (n,) with zero blocks. Forgets the
        last answer."""
        self._n_bands = len(lengths)
        self._units = units
        self._peaks = peaks
        self._band = np.repeat(np.arange(self._n_bands), lengths)
        self._detail = self._band > 0
        self._scales = np.where(lengths > 0, pools / np.maximum(lengths, 1), 0.0)
        #: (1,) float32: the largest |coefficient| in the sample (its quantised magnitude bounds all)
        largest = self._peaks if self._zero_blocks else np.abs(self._units)
        self._largest = np.array([largest.max() if largest.size else 0.0], np.float32)
        self._last: tuple[float, float] | None = None

    def bits(self, step: float) -> float:
        """Estimated bits of all bands quantised with ``step`` (intensity units), tables included
        (the last answer is kept: a search for a new budget starts at the last step)."""
        if self._units is None or step < self._lowest_step:
            self._sample_strided()
        if self._last is None or self._last[0] != step:
            self._last = (step, self._bits(step))
        return self._last[1]

    def _bits(self, step: float) -> float:
        compiled = numba_support.loops("entropy.estimate_loops")
        peaks = self._peaks if self._zero_blocks else self._units[:0, 0]
        bits, made = compiled.sample_bits(
            self._units, peaks, self._band, self._n_bands, self._zero_blocks, np.float32(step), _ROUNDING,
            SPARSE_BLOCK_NONZERO, self._largest[0], self._scales, self._totals, self._table_weight,
            _JOINT_HISTOGRAM_BINS)
        if made:
            return bits
        return compiled.sample_bits_by_band(self._units, peaks, self._band, self._n_bands, self._zero_blocks,
                                            np.float32(step), _ROUNDING, SPARSE_BLOCK_NONZERO, self._scales,
                                            self._totals, self._table_weight)

    def step_for(self, budget_bits: float, span: int, tolerance: float = 2e-3, guess: float | None = None) -> float:
        """Smallest step (float32-exact, within ``tolerance`` relative, >= MIN_STEP) whose
        estimate fits ``budget_bits``, or one whose estimate is within ``tolerance`` below it;
        ``span`` = hi - lo.

        The estimate falls with the step about as a power law, so the search works on
        (log step, log bits): it brackets the answer by geometric probes from a start, then
        closes the bracket by regula falsi with the Illinois rule. The start is ``guess``
        (intensity units) with probes GUESS_WIDTH, GUESS_WIDTH**2, GUESS_WIDTH**4 ... away;
        without one, the search on a sample COARSE_SHARE times smaller gives the guess (to
        COARSE_TOLERANCE), and without that the probes go down from 64 * span by factors of
        NO_GUESS_FACTOR. Probes never go below MIN_STEP, whose alphabets are the largest
        and whose estimate is the slowest, unless the answer lies there.
        """
        width = GUESS_WIDTH
        if guess is None and self._coarse is not None:
            guess = self._coarse.step_for(budget_bits, span, COARSE_TOLERANCE)
        if guess is not None and not self._focus_tried:
            self._focus_tried = True
            self.focus(guess)
        lo_s, hi_s = MIN_STEP, 64.0 * max(span, 1)
        accelerate = True
        if guess is None or not lo_s < guess < hi_s:
            guess, width, accelerate = hi_s, NO_GUESS_FACTOR, False
        target = math.log(max(budget_bits, 1.0))

        def excess(step: float) -> float:
            return math.log(max(self.bits(step), 1.0)) - target

        bracket = _bracket(excess, guess, width, lo_s, hi_s, accelerate)
        if isinstance(bracket, float):
            return float(np.float32(bracket))
        lo_s, f_lo, hi_s, f_hi = bracket
        kept = 0  # which end the last step kept: +1 the low one, -1 the high one
        for _ in range(40):
            if hi_s <= lo_s * (1 + tolerance) or f_hi >= -tolerance:
                break  # the step is pinned down, or its estimate fills the budget to within tolerance
            if f_lo < tolerance:
                # the low end nearly fits: one step of the tolerance up (secants from a convex
                # far end creep up on the root from below)
                step = lo_s * (1 + tolerance)
            else:
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


def _bracket(excess: Callable[[float], float], start: float, width: float, lo_s: float,
             hi_s: float, accelerate: bool) -> tuple[float, float, float, float] | float:
    """Steps (low, excess(low) > 0, high, excess(high) <= 0) around the root of the
    decreasing ``excess`` within [lo_s, hi_s], found by probes from ``start`` that move by
    factors ``width``, then (``accelerate``) ``width**2``, ``width**4`` ... or (else) ``width``
    again, in the direction of the root; or
    the answer itself where it is an end of the range: ``lo_s`` where even it fits, ``hi_s``
    where even it does not. A start within a few % of the root costs two probes."""
    step, f = start, excess(start)
    fits = f <= 0
    factor = width
    while True:
        nxt = max(step / factor, lo_s) if fits else min(step * factor, hi_s)
        f_next = excess(nxt)
        if (f_next <= 0) != fits:
            return (nxt, f_next, step, f) if fits else (step, f, nxt, f_next)
        step, f = nxt, f_next
        if step in (lo_s, hi_s):
            return step
        if accelerate:
            factor *= factor


#: the joint (band, symbol) histogram of an estimate has at most this many bins; wider symbol
#: ranges (very fine steps) are counted band by band.
_JOINT_HISTOGRAM_BINS = 1 << 22


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
