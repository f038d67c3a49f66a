"""The dead-zone quantiser of wavelet coefficients as loops compiled by numba (see
:mod:`..numba_support`): single values (:func:`quantize_values`), the thresholds where |q|
reaches a level, which zero blocks are coded and their quantised values
(:meth:`.band_units.BandUnits.band_groups`), and the joint (band, symbol) histogram of a size
estimate (:meth:`.rate_control.SizeEstimator.bits`).

Why: in NumPy each of these is a dozen whole-array passes (peak comparisons, a gather of the
coded blocks, four passes of the quantiser, keys, a histogram; tests/reference/quantize.py);
here one loop reads each block once. The quantiser is a float32 division and a float32 add of
+-DEADZONE_ROUNDING, then truncation: the same values on every machine.
"""

from __future__ import annotations

import numpy as np
from ..numba_support import jit

#: ``error_model="numpy"``: no division-by-zero test per value (the step is never 0), so LLVM
#: vectorises the divisions (2.4x faster at ratio 4); the same IEEE float32 division.
_jit = jit(cache=True, nogil=True, fastmath=False, error_model="numpy")


@_jit
def quantize_one(value, step, rounding):
    """The dead-zone quantiser (:func:`.wavelet_residual.quantize`) of one float32 ``value``
    (``step`` and ``rounding`` float32): trunc(value / step +- rounding) as int32, i.e. sign(c) *
    floor(|c| / step + rounding) (IEEE rounding is symmetric in the sign)."""
    scaled = value / step
    if scaled >= 0:
        scaled += rounding
    else:
        scaled -= rounding
    return np.int32(scaled)


@_jit
def quantize_values(values, step, rounding, out):
    """:func:`quantize_one` of each of ``values`` (n,) float32 into ``out`` (n,) int32."""
    for i in range(values.shape[0]):
        out[i] = quantize_one(values[i], step, rounding)


@_jit
def magnitude_threshold(step, level, rounding):
    """The smallest float32 magnitude whose quantised magnitude (:func:`quantize_one`) with
    float32 ``step`` reaches ``level`` (>= 1): |c| >= this exactly where |q| >= level (the
    quantiser depends on |c| only and is monotone in it). By bisection on the bit patterns of
    positive float32s (ordered as their values)."""
    low = np.int32(0)  # bits of 0.0, which quantises to 0
    high = np.array([np.float32(level * step)]).view(np.int32)[0]  # level * step reaches level
    probe = np.empty(1, np.int32)
    value = probe.view(np.float32)
    while high - low > 1:
        mid = low + (high - low) // 2
        probe[0] = mid
        if abs(quantize_one(value[0], step, rounding)) >= level:
            high = mid
        else:
            low = mid
    probe[0] = high
    return value[0]


@_jit
def is_coded(units, peaks, row, detail, one, two, sparse_max):
    """Whether zero block ``row`` of ``units`` (n, k) float32 is coded (its flag in
    :meth:`.band_units.BandUnits.band_groups`): its peak reaches ``one`` (the magnitude that
    quantises to 1), unless it is a detail block whose peak stays below ``two`` and which holds
    at most ``sparse_max`` values that reach ``one``."""
    peak = peaks[row]
    if peak < one:
        return False
    if detail and peak < two:
        reaching = 0
        for j in range(units.shape[1]):
            if abs(units[row, j]) >= one:
                reaching += 1
        return reaching > sparse_max
    return True


@_jit
def coded_values(units, peaks, detail, step, rounding, one, two, sparse_max, flags):
    """Flags (written to ``flags``, (n,) int8: 1 where block n is coded) and the quantised
    values of the coded blocks of ``units`` (n, k) float32 in block order, (n_coded * k,) int32."""
    n, k = units.shape
    coded = 0
    for row in range(n):
        flag = is_coded(units, peaks, row, detail, one, two, sparse_max)
        flags[row] = flag
        coded += flag
    values = np.empty(coded * k, np.int32)
    at = 0
    for row in range(n):
        if flags[row]:
            source = units[row]
            target = values[at : at + k]
            for j in range(k):  # one block: a loop LLVM vectorises (the divisions 16 at a time)
                target[j] = quantize_one(source[j], step, rounding)
            at += k
    return values


@_jit
def sample_counts(units, peaks, band_of_row, n_bands, zero_blocks, step, rounding, one, two, sparse_max,
                  half_span):
    """Coded blocks per band ((n_bands,) int64; all rows without ``zero_blocks``) and the
    histogram of the quantised values of those rows per band ((n_bands, 2 * half_span + 1)
    int64, column q + half_span), and whether every |q| was <= ``half_span`` (else the caller
    counts in NumPy and the counts returned are not to be used: the loop stops at that row).

    Each row is quantised into a buffer first (a loop LLVM vectorises), then counted into two
    partial histograms that take the values in turn (a run of zeros would otherwise wait on
    the previous increment of the same bin), with uint64 bins (no test for negative indices):
    25-30 % faster than counting each value as it is quantised."""
    n, k = units.shape
    coded = np.zeros(n_bands, np.int64)
    width = 2 * half_span + 1
    partial = np.zeros((n_bands, 2, width), np.int64)
    values = np.empty(k, np.int32)
    pairs = k - k % 2
    for row in range(n):
        band = band_of_row[row]
        if zero_blocks and not is_coded(units, peaks, row, band > 0, one, two, sparse_max):
            continue
        coded[band] += 1
        source = units[row]
        smallest = np.int32(0)
        largest = np.int32(0)
        for j in range(k):
            q = quantize_one(source[j], step, rounding)
            values[j] = q
            smallest = min(smallest, q)
            largest = max(largest, q)
        if smallest < -half_span or largest > half_span:  # (not abs: abs(INT32_MIN) stays negative)
            return coded, partial[:, 0], False
        for j in range(0, pairs, 2):
            partial[band, 0, np.uint64(values[j] + half_span)] += 1
            partial[band, 1, np.uint64(values[j + 1] + half_span)] += 1
        for j in range(pairs, k):
            partial[band, 0, np.uint64(values[j] + half_span)] += 1
    counts = np.empty((n_bands, width), np.int64)
    for band in range(n_bands):
        for v in range(width):
            counts[band, v] = partial[band, 0, v] + partial[band, 1, v]
    return coded, counts, True
