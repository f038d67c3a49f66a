"""The arithmetic of the ratio mode's size estimates: its constants, and :func:`group_bits`;
the loops of :mod:`.estimate_loops` compute the estimates.

A stream must not depend on the machine: an estimate one bit off can move the quantiser step
the rate control settles on. So ``log2`` is ``frexp`` (exact) and a fixed series of IEEE
float64 operations (each correctly rounded; the loops run without fast-math: nothing fused or
reordered) rather than a library's log2 (NumPy's SIMD code and the C library's differ in the
last bit for 0.005-0.2 % of inputs, and either may differ across machines), and every sum of
non-integers runs in index order. Sums of integers (counts, table bytes) are exact in any order.
"""

from __future__ import annotations

import numpy as np

from .. import numba_support

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


def group_bits(counts: np.ndarray, scale: float = 1.0, table_weight: float = 1.0) -> float:
    """Estimated coded bits of one symbol group from the counts of its distinct symbols
    (ascending by symbol; zeros are skipped) in a sample ``scale`` times smaller than the
    group: :func:`.estimate_loops.band_bits`."""
    c = np.ascontiguousarray(counts, np.int64)
    return float(numba_support.loops("entropy.estimate_loops").band_bits(c, float(scale), float(table_weight)))
