"""A ratio-mode size estimate as one call of loops compiled by numba (see
:mod:`..numba_support`): the quantiser's thresholds, the joint histogram of the sample
(:func:`.quantize_loops.sample_counts`) and the bits of every band from it, with the
arithmetic of :mod:`.estimate_bits` (a log2 of fixed IEEE float64 operations, sums in index
order: the same estimate to the last bit on every machine).

Why: the rate control estimates the size of a chunk's bands 11-15 times per chunk, and in
NumPy each estimate was about 30 calls around the histogram (thresholds, the bits of the
counts, the flags): 74-197 us of the GIL per estimate on top of the histogram's 13-125 us;
(16, 256, 256) chunks encode 11-12 % faster without it (benchmarks/RESULTS.md, v0.4.4).
tests/reference/estimate.py holds the NumPy reference of this arithmetic.
"""

from __future__ import annotations

import math

import numpy as np

from .estimate_bits import LOG2_E, SERIES, SQRT_HALF, TABLE_HEADER_BITS, VARINT_LIMITS
from ..quantize.quantize_loops import is_coded, magnitude_threshold, quantize_one, sample_counts
from .rans_loops import normalize_counts
from ..numba_support import jit

_jit = jit(cache=True, nogil=True, fastmath=False, error_model="numpy")
_SERIES = np.array(SERIES)
_LAST_TERM = len(SERIES) - 1


@_jit
def log2(x):
    """log2 of a positive finite float64 to within 3 ulp (1e-16 near 0), the same on every
    machine (see :mod:`.estimate_bits`); values <= 0 give finite garbage."""
    mantissa, exponent = math.frexp(x)
    power = float(exponent)
    if mantissa < SQRT_HALF:
        mantissa = mantissa * 2.0
        power = power - 1.0
    s = (mantissa - 1.0) / (mantissa + 1.0)
    z = s * s
    series = _SERIES[_LAST_TERM]
    for k in range(_LAST_TERM - 1, -1, -1):
        series = series * z + _SERIES[k]
    return power + ((2.0 * s) * series) * LOG2_E


@_jit
def table_entry_bits(count):
    """Bits of the frequency-table entry of a symbol with this (estimated, float64) count, as
    :func:`~.groups.encode_groups` writes it: a one-byte symbol delta (consecutive symbols) and
    the count as an LEB128 varint of 1 + floor(log2(count) / 7) bytes (counts below 1 as 1)."""
    extra = 0
    for limit in VARINT_LIMITS:
        if count >= limit:
            extra += 1
    return 8.0 * (2 + extra)


@_jit
def entropy_bits(count, total):
    """-count * log2(count / total), 0 where count is 0 (float64)."""
    if count > 0:
        return -count * log2(count / total)
    return 0.0


@_jit
def sample_bits(units, peaks, band_of_row, n_bands, zero_blocks, step, rounding, sparse_max, largest, scales, totals,
                table_weight, max_bins):
    """Estimated bits of the sampled ``units`` quantised with float32 ``step`` (see
    :meth:`.rate_control.SizeEstimator.bits`), and whether the estimate was made: False (bits
    0.0) where the joint histogram would exceed ``max_bins`` bins or a value exceeded the
    magnitude of ``largest`` (float32, the sample's largest |c|) quantised; then
    :func:`sample_bits_by_band` makes it.

    ``scales`` (n_bands,) float64: units each sampled unit stands for; ``totals`` (n_bands,)
    float64: units per band (for the zero-block flags)."""
    half_span = abs(np.int64(quantize_one(largest, step, rounding)))
    if n_bands * (2 * half_span + 1) > max_bins:
        return 0.0, False
    one = magnitude_threshold(step, 1, rounding)
    two = magnitude_threshold(step, 2, rounding)
    coded, counts, complete = sample_counts(units, peaks, band_of_row, n_bands, zero_blocks, step, rounding, one, two,
                                            sparse_max, half_span)
    if not complete:
        return 0.0, False
    total = 0.0
    for band in range(n_bands):
        bits = band_bits(counts[band], scales[band], table_weight)
        if zero_blocks:
            bits = flag_bits(coded[band], scales[band], totals[band], table_weight) + bits
        total += bits
    return total, True


@_jit
def flag_bits(coded, scale, total, table_weight):
    """Estimated bits of the zero-block flags of a band of ``total`` blocks (float64), ``coded``
    of those in a sample ``scale`` times smaller coded: both symbols' entropy plus their table
    times ``table_weight``."""
    ones = coded * scale
    zeros = total - ones
    flags = entropy_bits(ones, total) + entropy_bits(zeros, total)
    table = TABLE_HEADER_BITS
    if ones > 0:
        table += table_entry_bits(ones)
    if zeros > 0:
        table += table_entry_bits(zeros)
    return flags + table_weight * table


@_jit
def band_bits(counts, scale, table_weight):
    """Estimated coded bits of one symbol group from its histogram ``counts`` (span,) int64
    (ascending by symbol, any offset) in a sample ``scale`` times smaller than the group:
    zeroth-order entropy times the scale, plus the frequency table of the scaled counts (a
    header byte, then :func:`table_entry_bits`) times ``table_weight``; 0 for an empty group."""
    size = 0.0
    c_log_c = 0.0
    table = 0.0
    for symbol in range(counts.shape[0]):
        if counts[symbol] > 0:
            c = float(counts[symbol])
            size += c
            c_log_c += c * log2(c)
            table += table_entry_bits(c * scale)
    return group_bits_of(size, c_log_c, table, scale, table_weight)


@_jit
def group_bits_of(size, c_log_c, table, scale, table_weight):
    """:func:`band_bits` from its sums over the group's counts c (ascending by symbol): their
    ``size``, the sum of c * log2(c) and the sum of table entry bits."""
    if size == 0:
        return 0.0
    entropy = size * log2(size) - c_log_c
    return entropy * scale + table_weight * (table + TABLE_HEADER_BITS)


@_jit
def sorted_bits(values, scale, table_weight):
    """:func:`band_bits` of the histogram of ``values`` (n,) sorted ascending: the counts of
    its runs, in the same order."""
    size = 0.0
    c_log_c = 0.0
    table = 0.0
    n = values.shape[0]
    i = 0
    while i < n:
        j = i + 1
        while j < n and values[j] == values[i]:
            j += 1
        c = float(j - i)
        size += c
        c_log_c += c * log2(c)
        table += table_entry_bits(c * scale)
        i = j
    return group_bits_of(size, c_log_c, table, scale, table_weight)


@_jit
def sample_bits_by_band(units, peaks, band_of_row, n_bands, zero_blocks, step, rounding, sparse_max, scales, totals,
                        table_weight):
    """:func:`sample_bits` where it was not made (symbol ranges too wide for one joint
    histogram): each band's quantised values sorted and counted in runs, the same bits.
    ``band_of_row`` (n,) int64 ascending."""
    one = magnitude_threshold(step, 1, rounding)
    two = magnitude_threshold(step, 2, rounding)
    n, k = units.shape
    values = np.empty(n * k, np.int32)
    total = 0.0
    row = 0
    for band in range(n_bands):
        m = 0
        coded = 0
        while row < n and band_of_row[row] == band:
            if not zero_blocks or is_coded(units, peaks, row, band > 0, one, two, sparse_max):
                coded += 1
                for j in range(k):
                    values[m + j] = quantize_one(units[row, j], step, rounding)
                m += k
            row += 1
        bits = sorted_bits(np.sort(values[:m]), scales[band], table_weight)
        if zero_blocks:
            bits = flag_bits(coded, scales[band], totals[band], table_weight) + bits
        total += bits
    return total


@_jit
def coder_choice_bits(counts, ends, precision, freq):
    """:func:`.rans.frequencies_if_affordable`'s sizes in one call: the frequencies of the
    groups whose counts (all >= 1, at least 2 per group) lie in ``counts`` (n,) int64, group g
    ending at ``ends[g]``, into ``freq`` (n,) int64, and (entropy bits, coded bits) of all
    groups, summed group by group, symbol by symbol."""
    entropy_bits = 0.0
    coded_bits = 0.0
    start = 0
    for g in range(len(ends)):
        end = ends[g]
        normalize_counts(counts[start:end], freq[start:end])
        total = 0.0
        for r in range(start, end):
            total += float(counts[r])
        entropy = 0.0
        coded = 0.0
        for r in range(start, end):
            weight = float(counts[r])
            entropy += weight * log2(total / weight)
        for r in range(start, end):
            coded += float(counts[r]) * (precision - log2(float(freq[r])))
        entropy_bits += entropy
        coded_bits += coded
        start = end
    return entropy_bits, coded_bits
