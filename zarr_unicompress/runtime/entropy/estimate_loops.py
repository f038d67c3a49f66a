"""A ratio-mode size estimate as one compiled (numba) call: the quantiser's thresholds, the
joint histogram of the sample (:func:`.quantize_loops.sample_counts`) and the bits of every
band from it (:mod:`.estimate_bits`' arithmetic as scalar loops, the same float64 operations
in the same order: the same estimate to the last bit).

Why: the rate control estimates the size of a chunk's bands 11-15 times per chunk, and in
NumPy each estimate was about 30 calls around the histogram (thresholds, the bits of the
counts, the flags): 74-197 us of the GIL per estimate on top of the histogram's 13-125 us;
(16, 256, 256) chunks encode 11-12 % faster without it (benchmarks/RESULTS.md, v0.4.4).
Imported only where :func:`.numba_support.enabled`.
"""

from __future__ import annotations

import math

import numpy as np

from .estimate_bits import LOG2_E, SERIES, SQRT_HALF, TABLE_HEADER_BITS, VARINT_LIMITS
from ..quantize.quantize_loops import quantize_one, sample_counts
from .rans_loops import normalize_counts
from ..numba_support import jit

_jit = jit(cache=True, nogil=True, fastmath=False, error_model="numpy")
_SERIES = np.array(SERIES)
_LAST_TERM = len(SERIES) - 1


@_jit
def log2(x):
    """:func:`.estimate_bits.log2` of one float64."""
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
    """:func:`.estimate_bits.table_entry_bits` of one float64 count."""
    extra = 0
    for limit in VARINT_LIMITS:
        if count >= limit:
            extra += 1
    return 8.0 * (2 + extra)


@_jit
def entropy_bits(count, total):
    """:func:`.estimate_bits.entropy_bits` of one count."""
    if count > 0:
        return -count * log2(count / total)
    return 0.0


@_jit
def magnitude_threshold(step, level, rounding):
    """:func:`.wavelet_residual.magnitude_threshold` (the smallest float32 whose quantised
    magnitude with float32 ``step`` reaches ``level``), by bisection on the bit patterns of
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
def sample_bits(units, peaks, band_of_row, n_bands, zero_blocks, step, rounding, sparse_max, largest, scales, totals,
                table_weight, max_bins):
    """Estimated bits of the sampled ``units`` quantised with float32 ``step`` (as
    :meth:`.rate_control.SizeEstimator.bits` computes them in NumPy), and whether the estimate
    was made: False (bits 0.0) where the joint histogram would exceed ``max_bins`` bins or a
    value exceeded the magnitude of ``largest`` (float32, the sample's largest |c|) quantised.

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
            ones = coded[band] * scales[band]
            zeros = totals[band] - ones
            flags = entropy_bits(ones, totals[band]) + entropy_bits(zeros, totals[band])
            table = TABLE_HEADER_BITS
            if ones > 0:
                table += table_entry_bits(ones)
            if zeros > 0:
                table += table_entry_bits(zeros)
            bits = (flags + table_weight * table) + bits
        total += bits
    return total, True


@_jit
def band_bits(counts, scale, table_weight):
    """:func:`.estimate_bits.joint_bits` of one band's histogram ``counts`` (span,) int64."""
    size = 0.0
    c_log_c = 0.0
    table = 0.0
    for symbol in range(counts.shape[0]):
        if counts[symbol] > 0:
            c = float(counts[symbol])
            size += c
            c_log_c += c * log2(c)
            table += table_entry_bits(c * scale)
    if size == 0:
        return 0.0
    entropy = size * log2(size) - c_log_c
    return entropy * scale + table_weight * (table + TABLE_HEADER_BITS)


@_jit
def coder_choice_bits(counts, ends, precision, freq):
    """:func:`.rans.frequencies_if_affordable`'s sizes in one call: the frequencies of the
    groups whose counts (all >= 1, at least 2 per group) lie in ``counts`` (n,) int64, group g
    ending at ``ends[g]``, into ``freq`` (n,) int64, and (entropy bits, coded bits) of all
    groups, summed in the order of the NumPy code."""
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
