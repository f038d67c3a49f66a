"""NumPy reference of the quantise stage's loops for zero blocks (:mod:`.quantize_loops`):
which blocks are coded and their quantised values."""

from __future__ import annotations

import numpy as np

from zarr_unicompress.runtime.quantize.band_units import SPARSE_BLOCK_NONZERO
from zarr_unicompress.runtime.transform.wavelet_residual import magnitude_threshold, quantize


def band_groups(units: np.ndarray, peaks: np.ndarray, step: float, detail: bool) -> list[np.ndarray]:
    """:meth:`.band_units.BandUnits.band_groups` of one band in zero blocks: the flags (n,) int8
    and the coded blocks' values quantised with ``step``, (n_coded * 16,) int32."""
    coded = coded_blocks(units, peaks, step, detail)
    return [coded.view(np.int8), quantize(units[coded], step).ravel()]


def coded_blocks(units: np.ndarray, peaks: np.ndarray, step: float, detail: bool | np.ndarray) -> np.ndarray:
    """Which zero blocks (n_blocks,) bool are coded at ``step``: those holding a non-zero
    quantised value, except detail-band blocks (``detail``: one bool, or one per block) whose
    only non-zero values are at most SPARSE_BLOCK_NONZERO of +-1, which are coded as all zero.

    ``units`` (n_blocks, ZERO_BLOCK**2) float32, ``peaks`` (n_blocks,) their largest |c|. A
    block's largest |q| is its peak's (the quantiser is monotone in |c|), so the flags are
    comparisons of the peaks with the magnitudes where |q| reaches 1 and 2
    (:func:`~.wavelet_residual.magnitude_threshold`), and only blocks whose peak quantises to
    exactly 1 are looked into, to count their values that reach 1.
    """
    one, two = magnitude_threshold(step, 1), magnitude_threshold(step, 2)
    coded = peaks >= one
    weak = np.flatnonzero(coded & (peaks < two) & detail)
    if weak.size:
        nonzero_counts = np.count_nonzero(np.abs(units[weak]) >= one, axis=1)
        coded[weak[nonzero_counts <= SPARSE_BLOCK_NONZERO]] = False
    return coded

