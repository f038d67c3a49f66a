"""Compiled (numba) cut of a wavelet band into zero blocks with their peaks: the values of
:func:`.wavelet_residual.to_blocks` and :func:`.wavelet_residual.block_peaks` in one pass.

The encoder cuts every band of a chunk into ZERO_BLOCK x ZERO_BLOCK blocks and takes each
block's largest |coefficient|; in NumPy that is a transposing copy and five strided maximum
passes, here one read of the band. Plain copies and comparisons: the same values bit for bit.
Imported only where :func:`.numba_support.enabled`.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath=False)
def cut(band, units, peaks, block):
    """Blocks of ``band`` (z, y, x) float32 into ``units`` (z * by * bx, block**2) in block
    order (z, block row, block column; row-major inside a block), zero-padded at the far
    edges, and each block's largest |value| into ``peaks`` (z * by * bx,)."""
    z, y, x = band.shape
    by = (y + block - 1) // block
    bx = (x + block - 1) // block
    zero = np.float32(0.0)
    for k in range(z):
        for r in range(by):
            first = (k * by + r) * bx
            for c in range(bx):
                peaks[first + c] = zero
            for i in range(block):
                yy = r * block + i
                for c in range(bx):
                    n = first + c
                    peak = peaks[n]
                    for j in range(block):
                        xx = c * block + j
                        v = band[k, yy, xx] if yy < y and xx < x else zero
                        units[n, i * block + j] = v
                        peak = max(peak, abs(v))
                    peaks[n] = peak
