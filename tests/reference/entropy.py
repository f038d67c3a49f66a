"""NumPy references of the entropy stage's loops: the frequency table of a group
(:mod:`.table_loops`) and the sizes that choose the coder (:func:`.estimate_loops.coder_choice_bits`)."""

from __future__ import annotations

import numpy as np

from tests.reference.estimate import log2, sequential_sum
from zarr_unicompress.runtime.entropy.rans import normalized_frequencies


def table(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a 1D integer array (ascending, int64) and their counts (int64)."""
    symbols, counts = np.unique(flat, return_counts=True)
    return symbols.astype(np.int64), counts.astype(np.int64)


def coder_choice_bits(counts: np.ndarray, ends: np.ndarray, precision: int) -> tuple[float, float, np.ndarray]:
    """(entropy bits, coded bits, frequencies (n,) int64) of the groups whose counts lie in
    ``counts`` (n,) int64, group g ending at ``ends[g]``: per group the entropy and the coded
    size at frequencies of 2**-``precision``, summed group by group, symbol by symbol."""
    entropy_bits = coded_bits = 0.0
    freq = np.empty(len(counts), np.int64)
    start = 0
    for end in ends.tolist():
        group = slice(start, end)
        freq[group] = normalized_frequencies(counts[group])
        weights = counts[group].astype(np.float64)
        entropy_bits += sequential_sum(weights * log2(weights.sum() / weights))
        coded_bits += sequential_sum(weights * (precision - log2(freq[group].astype(np.float64))))
        start = end
    return entropy_bits, coded_bits, freq
