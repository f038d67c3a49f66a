"""Compiled (numba) reconstruction of indices-only and ``max_error`` chunks: each voxel is its
token's table entry plus its quantised residual times the step, clipped, written straight to
its place in the chunk (the values of :func:`.chunk_codec._decode_voxel_residual`'s NumPy
code: a gather of the table rows, one add per class, a clip, and a transposing copy). Integer
arithmetic only, so the same voxels exactly. Imported only where
:func:`.numba_support.enabled`.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath=False)
def tokens_to_chunk(indices, table, token_class, residuals, class_starts, step, lo, hi, token_shape, out):
    """Write the chunk ``out`` (z, y, x) from its tokens (C order over the token grid, voxels
    in C order inside a token, those past the chunk's far edges dropped): voxel v of token t is
    clip(table[indices[t], v] + step * q, lo, hi), q the next value of the residuals of the
    token's class (``residuals`` holds the groups of classes 0, 1, ... one after another; class
    c's group starts at ``class_starts[c]``); without residuals (``token_class`` empty) q = 0.
    ``table`` (K, V) int32, ``residuals`` int32, values bounded so that no sum overflows."""
    z, y, x = out.shape
    tz, ty, tx = token_shape[0], token_shape[1], token_shape[2]
    gy = (y + ty - 1) // ty
    gx = (x + tx - 1) // tx
    with_residuals = token_class.shape[0] > 0
    next_residual = class_starts.copy()
    for t in range(indices.shape[0]):
        a = t // (gy * gx)
        b = (t // gx) % gy
        c = t % gx
        row = table[indices[t]]
        at = 0
        if with_residuals:
            cls = token_class[t]
            at = next_residual[cls]
            next_residual[cls] += tz * ty * tx
        for i in range(tz):
            zz = a * tz + i
            for j in range(ty):
                yy = b * ty + j
                v = (i * ty + j) * tx
                if zz >= z or yy >= y:
                    continue
                for k in range(tx):
                    xx = c * tx + k
                    if xx < x:
                        value = np.int64(row[v + k])
                        if with_residuals:
                            value += np.int64(residuals[at + v + k]) * step
                        out[zz, yy, xx] = min(max(value, lo), hi)
