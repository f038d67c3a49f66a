"""NumPy reference of the size estimates' arithmetic (:mod:`.estimate_loops`, constants in
:mod:`.estimate_bits`): whole-array float64 with the loops' operations in the loops' order
(``log2`` as ``frexp`` and a fixed series, sums in index order: ``np.add.accumulate`` and
``np.bincount``; ``np.sum`` adds in pairs), so the loops must give these values bit for bit."""

from __future__ import annotations

import numpy as np

from zarr_unicompress.runtime.entropy.estimate_bits import (
    LOG2_E,
    SERIES,
    SQRT_HALF,
    TABLE_HEADER_BITS,
    VARINT_LIMITS,
)


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


def sample_bits(units: np.ndarray, peaks: np.ndarray | None, band_of_row: np.ndarray, n_bands: int, step: float,
                scales: np.ndarray, totals: np.ndarray, table_weight: float) -> float:
    """:meth:`.rate_control.SizeEstimator.bits` of a sample: ``units`` (n, k) float32 of all
    bands in band order (``band_of_row`` (n,)), their ``peaks`` (n,) with zero blocks (else
    None), quantised with ``step``; each band's units stand for ``scales[band]`` times as many,
    ``totals`` (n_bands,) units per band."""
    from tests.reference.quantize import coded_blocks, quantize

    if peaks is None:
        return sequential_sum(_grouped_bits(quantize(units, step), band_of_row, n_bands, scales, table_weight))
    picked = np.flatnonzero(coded_blocks(units, peaks, step, detail=band_of_row > 0))
    bands = band_of_row[picked]
    values = _grouped_bits(quantize(units[picked], step), bands, n_bands, scales, table_weight)
    coded = np.bincount(bands, minlength=n_bands)
    return sequential_sum(flag_bits(coded, scales, totals, table_weight) + values)


def _grouped_bits(q: np.ndarray, band_of_row: np.ndarray, n_bands: int, scales: np.ndarray,
                  table_weight: float) -> np.ndarray:
    """Estimated bits (n_bands,) of the symbols in the rows of ``q`` ((rows, k) int32), one
    group per band: :func:`joint_bits` of their joint (band, symbol) histogram."""
    if q.size == 0:
        return np.zeros(n_bands)
    lo, hi = int(q.min()), int(q.max())
    span = hi - lo + 1
    key = (q - lo).astype(np.intp) + (band_of_row * span)[:, None]
    counts = np.bincount(key.ravel(), minlength=n_bands * span).reshape(n_bands, span)
    return joint_bits(counts, scales, table_weight)
