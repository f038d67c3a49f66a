"""The cut of a wavelet band into zero blocks with their peaks
(:func:`.wavelet_residual.cut_into_blocks`), as loops compiled by numba (see
:mod:`.numba_support`).

The encoder cuts every band of a chunk into ZERO_BLOCK x ZERO_BLOCK blocks and takes each
block's largest |coefficient|; in NumPy that is a transposing copy and five strided maximum
passes (tests/reference/transform.py), here one read of the band. :func:`put_block_row`
places one block row; the encoder's last lifting step (:func:`.lifting_loops.forward_x_blocks`)
calls it directly. Plain copies and comparisons: the same values on every machine.
"""

from __future__ import annotations

import numpy as np
from ..numba_support import jit

_jit = jit(cache=True, nogil=True, fastmath=False)


@_jit
def cut(band, units, peaks, block):
    """Blocks of ``band`` (z, y, x) float32 into ``units`` (z * by * bx, block**2) in block
    order (z, block row, block column; row-major inside a block), zero-padded at the far
    edges, and each block's largest |value| into ``peaks`` (z * by * bx,): each block row
    of the band goes through a zero-padded buffer into :func:`put_block_row`."""
    z, y, x = band.shape
    by = (y + block - 1) // block
    bx = (x + block - 1) // block
    rows = np.zeros((block, bx * block), np.float32)  # zero past x: the blocks' padding
    for k in range(z):
        for r in range(by):
            for i in range(block):
                if r * block + i < y:
                    rows[i, :x] = band[k, r * block + i]
                else:  # past the band's last row: the blocks' padding
                    rows[i, :] = 0.0
            put_block_row(rows, units, peaks, k * by + r, bx, block)


@_jit
def put_block_row(rows, units, peaks, block_row, bx, block):
    """One block row (``rows`` (block, bx * block) float32) into its blocks ``units[block_row
    * bx + c]`` (row-major inside a block) and their largest |value| into ``peaks``. Blocks of
    4 x 4 take their peak as a tree of maxima (a chain of 16 would wait on each maximum)."""
    first = block_row * bx
    if block != 4:
        zero = np.float32(0.0)
        for c in range(bx):
            target = units[first + c]
            peak = zero
            for i in range(block):
                for j in range(block):
                    v = rows[i, c * block + j]
                    target[i * block + j] = v
                    peak = max(peak, abs(v))
            peaks[first + c] = peak
        return
    r0, r1, r2, r3 = rows[0], rows[1], rows[2], rows[3]
    for c in range(bx):
        target = units[first + c]
        x = 4 * c
        peak0 = _row_of_four(r0, x, target, 0)
        peak1 = _row_of_four(r1, x, target, 4)
        peak2 = _row_of_four(r2, x, target, 8)
        peak3 = _row_of_four(r3, x, target, 12)
        peaks[first + c] = max(max(peak0, peak1), max(peak2, peak3))


@_jit
def _row_of_four(row, x, target, at):
    """Copy ``row[x:x + 4]`` to ``target[at:at + 4]``; return its largest |value|."""
    a, b, c, d = row[x], row[x + 1], row[x + 2], row[x + 3]
    target[at] = a
    target[at + 1] = b
    target[at + 2] = c
    target[at + 3] = d
    return max(max(abs(a), abs(b)), max(abs(c), abs(d)))


