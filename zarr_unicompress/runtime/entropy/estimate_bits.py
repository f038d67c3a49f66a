"""The arithmetic of the ratio mode's size estimates: bits of symbol groups from their counts,
with the same float64 results on every machine and with or without the compiled loops
(:mod:`.estimate_loops` repeats each function here as a scalar loop).

Why not ``np.log2``: NumPy runs it through SIMD code (SVML on CPUs with AVX-512) whose last
bit differs from the C library's (which numba calls) for 0.005-0.2 % of inputs, and an
estimate one bit off can move the quantiser step the rate control settles on, so that a
stream would depend on the machine and on whether numba runs. Here ``log2`` is ``frexp``
(exact) and a fixed series of IEEE float64 operations (each correctly rounded, in the same
order in NumPy and in the loops, which run without fast-math: nothing fused or reordered), and
every sum of non-integers runs in index order (``np.add.accumulate``; ``np.sum`` adds in pairs).
Sums of integers (counts, table bytes) are exact in any order.
"""

from __future__ import annotations

import numpy as np

#: 1 / ln 2 (float64).
LOG2_E = 1.4426950408889634
#: sqrt(1/2): mantissas below it are doubled, so the series runs on s in [-0.1716, 0.1716].
SQRT_HALF = 0.7071067811865476
#: ln(m) = 2 s (1 + s**2 / 3 + s**4 / 5 + ...) with s = (m - 1) / (m + 1): eleven terms leave
#: an error below 1e-17 (s**22 / 23 < 2e-18).
SERIES = tuple(1.0 / (2 * k + 1) for k in range(11))
#: a frequency-table count of at least 2**(7 j) takes j more LEB128 bytes than one below 2**7.
VARINT_LIMITS = np.array([2.0 ** (7 * j) for j in range(1, 10)])
#: bits of a frequency table's header (its number of symbols, one LEB128 byte up to 127).
TABLE_HEADER_BITS = 8.0


def log2(x: np.ndarray) -> np.ndarray:
    """log2 of positive finite float64 values (any shape) to within 3 ulp (1e-16 near 0), computed
    the same way everywhere (see the module docstring); values <= 0 give finite garbage."""
    mantissa, exponent = np.frexp(np.asarray(x, np.float64))
    small = mantissa < SQRT_HALF
    mantissa = np.where(small, mantissa * 2.0, mantissa)
    power = exponent.astype(np.float64) - small
    s = (mantissa - 1.0) / (mantissa + 1.0)
    z = s * s
    series = np.full_like(z, SERIES[-1])
    for term in SERIES[-2::-1]:
        series = series * z + term
    return power + ((2.0 * s) * series) * LOG2_E


def sequential_sum(values: np.ndarray) -> float:
    """Sum of a 1D float64 array, added in index order (0.0 for an empty one)."""
    return float(np.add.accumulate(values)[-1]) if len(values) else 0.0


def table_entry_bits(counts: np.ndarray) -> np.ndarray:
    """Bits of the frequency-table entries of symbols with these (estimated, float64)
    ``counts``, as :func:`~.groups.encode_groups` writes them: a one-byte symbol delta
    (consecutive symbols) and the count as an LEB128 varint of 1 + floor(log2(count) / 7) bytes
    (counts below 1 as 1)."""
    return 8.0 * (2 + np.searchsorted(VARINT_LIMITS, counts, side="right"))


def entropy_bits(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """-counts * log2(counts / totals) elementwise, 0 where counts is 0 (float64 arrays)."""
    counts = np.asarray(counts, np.float64)
    totals = np.asarray(totals, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = -counts * log2(counts / totals)
    return np.where(counts > 0, bits, 0.0)


def joint_bits(counts: np.ndarray, scales: np.ndarray, table_weight: float) -> np.ndarray:
    """Estimated coded bits (n_bands,) of one symbol group per band from their histogram
    ``counts`` (n_bands, span) int64 (columns ascending by symbol, any offset) in a sample
    ``scales[band]`` times smaller than the band: zeroth-order entropy times the scale, plus
    the frequency table of the scaled counts (a header byte, then :func:`table_entry_bits`)
    times ``table_weight``; 0 for an empty band."""
    n_bands = counts.shape[0]
    band, symbol = np.nonzero(counts)  # row-major: bands ascending, symbols ascending per band
    c = counts[band, symbol].astype(np.float64)
    sizes = np.bincount(band, weights=c, minlength=n_bands)
    c_log_c = np.bincount(band, weights=c * log2(c), minlength=n_bands)  # adds in index order
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = np.where(sizes > 0, sizes * log2(np.maximum(sizes, 1.0)) - c_log_c, 0.0)
    tables = (np.bincount(band, weights=table_entry_bits(c * scales[band]), minlength=n_bands)
              + TABLE_HEADER_BITS * (sizes > 0))
    return entropy * scales + table_weight * tables


def flag_bits(coded: np.ndarray, scales: np.ndarray, totals: np.ndarray, table_weight: float) -> np.ndarray:
    """Estimated bits (n_bands,) of the zero-block flags of bands with ``totals`` (n_bands,)
    blocks, ``coded`` (n_bands,) of those in a sample ``scales`` times smaller coded: both
    symbols' entropy plus their table times ``table_weight``."""
    ones = coded * scales
    zeros = totals - ones
    flags = entropy_bits(ones, totals) + entropy_bits(zeros, totals)
    tables = (table_entry_bits(ones) * (ones > 0) + table_entry_bits(zeros) * (zeros > 0) + TABLE_HEADER_BITS)
    return flags + table_weight * tables


def group_bits(counts: np.ndarray, scale: float = 1.0, table_weight: float = 1.0) -> float:
    """Estimated coded bits of one symbol group from the counts of its distinct symbols
    (ascending by symbol) in a sample ``scale`` times smaller than the group: :func:`joint_bits`
    of one band."""
    c = np.asarray(counts, np.int64)
    c = c[c > 0]
    if not c.size:
        return 0.0
    return float(joint_bits(c.reshape(1, -1), np.array([float(scale)]), table_weight)[0])
