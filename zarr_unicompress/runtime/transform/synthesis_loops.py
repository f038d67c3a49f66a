"""The reconstruction of a ratio-mode chunk from its quantised bands
(:func:`..coders.ratio.reconstruct_wavelet`) as loops compiled by numba (see
:mod:`..numba_support`), in two kinds of calls.

Why: decoding a ratio-mode (16, 256, 256) chunk made about 1,750 Python-level calls (cProfile),
many of them in the NumPy reconstruction before v0.4.3 (per band a scatter of its zero blocks, a transposing
copy, a conversion and a scaling; per slab and level three lifting calls and their crops; per
slab the base, a finiteness check, rounding, clipping and a cast), each holding the GIL
between the compiled loops; now about 1,330. On many threads such calls queue for the GIL: on
a 16-core host 15 threads decoded these chunks at 186 MB/s against 289 MB/s on 4; with these
loops 364 and 444 MB/s (RESULTS.md, v0.4.3), and one thread reconstructs a (30, 512, 512)
chunk in 12.5 instead of 22.0 ms. Here each band is one call (:func:`dequantize_blocks`) and
the inverse transform with the base, rounding and clipping of every slab is one more
(:func:`synthesize_into`), all without the GIL.

The same values on every machine: each coefficient is float32(q) * step, the lifting runs the
kernels of :mod:`.lifting_loops` on the same slabs and crops as :func:`.cdf97.synthesize`, and
each voxel is rint(float32(v) + float32(base)) clipped to [lo, hi] (tests/reference/transform.py
holds the NumPy reference).
"""

from __future__ import annotations

import numpy as np

from .lifting_loops import inverse_x, inverse_y
from .wavelet_residual import ZERO_BLOCK
from ..numba_support import jit

_jit = jit(cache=True, nogil=True, fastmath=False)

#: :func:`synthesize_into`'s answers: the chunk is written, or a dequantised value overflowed.
FINISHED = 0
NOT_FINITE = 1


@_jit
def dequantize_blocks(nonzero, values, step, out):
    """Band ``out`` (z, y, x) float32 from its zero-block flags ``nonzero`` (n_blocks,) and the
    quantised values of the flagged blocks ``values`` (n_flagged * ZERO_BLOCK**2,) of any
    integer dtype, each times ``step`` (float32); unflagged blocks are zeros. Blocks are
    ZERO_BLOCK x ZERO_BLOCK squares in C order over the (z, ceil(y / ZERO_BLOCK),
    ceil(x / ZERO_BLOCK)) grid, their values in C order within a block, those past the band's
    edges dropped (:func:`.wavelet_residual.cut_into_blocks`). Written a row of the band at a
    time; the block width is a constant, so that LLVM unrolls each block's run (with the width
    a variable this took 4.5x as long). The caller checks the sizes: no index is checked here."""
    z, y, x = out.shape
    by = (y + ZERO_BLOCK - 1) // ZERO_BLOCK
    bx = (x + ZERO_BLOCK - 1) // ZERO_BLOCK
    whole = x // ZERO_BLOCK  # blocks of a block row that lie wholly inside the band
    starts = np.empty(bx, np.int64)  # where each block of a block row starts in ``values`` (-1: zeros)
    at = 0
    n = 0
    for k in range(z):
        for i in range(by):
            for j in range(bx):
                if nonzero[n]:
                    starts[j] = at
                    at += ZERO_BLOCK * ZERO_BLOCK
                else:
                    starts[j] = -1
                n += 1
            for r in range(min(ZERO_BLOCK, y - i * ZERO_BLOCK)):
                row = out[k, i * ZERO_BLOCK + r]
                for j in range(whole):
                    start = starts[j]
                    if start < 0:
                        for c in range(ZERO_BLOCK):
                            row[j * ZERO_BLOCK + c] = np.float32(0.0)
                    else:
                        start += r * ZERO_BLOCK
                        for c in range(ZERO_BLOCK):
                            row[j * ZERO_BLOCK + c] = np.float32(values[start + c]) * step
                for j in range(whole, bx):  # the block cut by the band's edge
                    start = starts[j]
                    for c in range(x - j * ZERO_BLOCK):
                        if start < 0:
                            row[j * ZERO_BLOCK + c] = np.float32(0.0)
                        else:
                            row[j * ZERO_BLOCK + c] = np.float32(values[start + r * ZERO_BLOCK + c]) * step


@_jit
def synthesize_into(flat, offsets, shapes, levels, slab_depth, base, base_is_array, flat_base, lo, hi, steps, out):
    """Inverse transform of the bands held in ``flat`` (float32; band b is
    ``flat[offsets[b]:]`` reshaped to ``shapes[b]`` (z, y, x), coding order as
    :func:`.cdf97.band_shapes`) into the chunk ``out`` (z, y, x), ``slab_depth`` slices at a
    time as :func:`.cdf97.synthesize`: per slab, each level's two inverse lifts along x and one
    along y (:mod:`.lifting_loops`, ``steps`` their constants), then per voxel the base added
    (``base`` (z, y, x) where ``base_is_array``, else the number ``flat_base``; float32),
    rounded half to even, clipped to [``lo``, ``hi``] (float32) and cast to ``out``'s dtype.

    Returns FINISHED, or NOT_FINITE where a voxel before rounding is not finite (a damaged
    stream's coefficients overflowed; ``out`` is then partly written). The caller checks the
    bands' sizes against ``shapes`` and ``out``."""
    z, y, x = out.shape
    row = np.empty(x, np.float32)
    for z0 in range(0, z, slab_depth):
        z1 = min(z, z0 + slab_depth)
        approx = _band(flat, offsets, shapes, 0)[z0:z1]
        for level in range(levels):
            b = 1 + 3 * level
            horizontal = _band(flat, offsets, shapes, b)[z0:z1]
            vertical = _band(flat, offsets, shapes, b + 1)[z0:z1]
            diagonal = _band(flat, offsets, shapes, b + 2)[z0:z1]
            depth, rows, cols = horizontal.shape
            low_y = np.empty((depth, rows, 2 * cols), np.float32)
            if approx.shape[1] == rows and approx.shape[2] == cols:  # contiguous: the loop vectorises
                inverse_x(approx, vertical, low_y, steps)
            else:  # the previous level's odd length, cropped
                inverse_x(approx[:, :rows, :cols], vertical, low_y, steps)
            high_y = np.empty((depth, rows, 2 * cols), np.float32)
            inverse_x(horizontal, diagonal, high_y, steps)
            approx = np.empty((depth, 2 * rows, 2 * cols), np.float32)
            inverse_y(low_y, high_y, approx, steps)
        for k in range(z1 - z0):
            for r in range(y):
                source = approx[k, r]
                if base_is_array:  # apart from the rest, so that LLVM vectorises each loop
                    base_row = base[z0 + k, r]
                    for c in range(x):
                        row[c] = source[c] + np.float32(base_row[c])
                else:
                    for c in range(x):
                        row[c] = source[c] + flat_base
                finite = True
                for c in range(x):
                    finite &= np.isfinite(row[c])
                if not finite:
                    return NOT_FINITE
                target = out[z0 + k, r]
                for c in range(x):
                    target[c] = min(max(np.rint(row[c]), lo), hi)
    return FINISHED


@_jit
def _band(flat, offsets, shapes, b):
    """Band ``b`` of ``flat`` as a (z, y, x) view."""
    shape = shapes[b]
    return flat[offsets[b] : offsets[b] + shape[0] * shape[1] * shape[2]].reshape((shape[0], shape[1], shape[2]))
