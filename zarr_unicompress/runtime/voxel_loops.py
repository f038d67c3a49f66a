"""Compiled (numba) voxel-domain residual loops of indices-only and ``max_error`` chunks.

Decoding (:func:`tokens_to_chunk`): each voxel is its token's table entry plus its quantised
residual times the step, clipped, written straight to its place in the chunk (NumPy: a gather
of the table rows, one add per class, a clip, and a transposing copy). Encoding
(:func:`quantized_residuals`): the residual symbols straight from the chunk and the table, with
each token's sum of |q| for the context classes (NumPy: the tokens, a subtraction, four passes
of the quantiser, the padding zeroed, a sum). Integer results, the same exactly. Imported only
where :func:`.numba_support.enabled`.
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


@numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def quantized_residuals(chunk, indices, table, max_error, token_shape, out, energy):
    """The encoder's side of :func:`tokens_to_chunk`: ``out`` (n_tokens, V) int32 gets, for
    voxel v of token t, q = sign(r) * floor((|r| + E) / (2E + 1)) of r = the chunk's voxel minus
    ``table[indices[t], v]`` (E = ``max_error``; :func:`.chunk_codec.quantize_residual`), and 0
    for the voxels that edge padding adds past the chunk (as ``_zero_padding`` sets them);
    ``energy`` (n_tokens,) int64 gets each token's sum of |q|. The floor division runs in float64,
    exact here: |r| + E < 2**31, so the quotient lies at least 2**-31 (relative) from the next
    integer, far above float64's 2**-53."""
    z, y, x = chunk.shape
    tz, ty, tx = token_shape[0], token_shape[1], token_shape[2]
    gy = (y + ty - 1) // ty
    gx = (x + tx - 1) // tx
    divisor = np.float64(2 * max_error + 1)
    for t in range(indices.shape[0]):
        a = t // (gy * gx)
        b = (t // gx) % gy
        c = t % gx
        row = table[indices[t]]
        target = out[t]
        total = np.int64(0)
        for i in range(tz):
            zz = a * tz + i
            for j in range(ty):
                yy = b * ty + j
                v = (i * ty + j) * tx
                for k in range(tx):
                    xx = c * tx + k
                    q = np.int32(0)
                    if zz < z and yy < y and xx < x:
                        r = np.int64(chunk[zz, yy, xx]) - np.int64(row[v + k])
                        magnitude = np.int64(np.floor((abs(r) + max_error) / divisor))
                        q = np.int32(magnitude if r >= 0 else -magnitude)
                        total += magnitude
                    target[v + k] = q
        energy[t] = total
