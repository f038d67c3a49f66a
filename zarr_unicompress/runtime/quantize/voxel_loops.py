"""The voxel-domain residual loops of indices-only and ``max_error`` chunks, compiled by numba
(see :mod:`..numba_support`).

Decoding (:func:`tokens_to_chunk`): each voxel is its token's table entry plus its quantised
residual times the step, clipped, written straight to its place in the chunk (NumPy: a gather
of the table rows, one add per class, a clip, and a transposing copy). Encoding
(:func:`quantized_residuals`): the residual symbols straight from the chunk and the table, with
each token's sum of |q| for the context classes (NumPy: the tokens, a subtraction, four passes
of the quantiser, the padding zeroed, a sum), and the normalised tokens that the codeword
search reads (:func:`normalized_tokens`: NumPy makes a padded copy, a transposing copy and
three float32 passes; tests/reference/voxel.py holds that NumPy reference). Integer
arithmetic, and float32 steps in a fixed order: the same values on every machine.
"""

from __future__ import annotations

import numpy as np
from ..numba_support import jit


@jit(cache=True, nogil=True, fastmath=False)
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


@jit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def quantized_residuals(chunk, indices, table, max_error, token_shape, magnitudes, out, energy):
    """The encoder's side of :func:`tokens_to_chunk`: ``out`` (n_tokens, V) int32 (or int16,
    where the caller knows that every q fits) gets, for
    voxel v of token t, q = sign(r) * floor((|r| + E) / (2E + 1)) of r = the chunk's voxel minus
    ``table[indices[t], v]`` (E = ``max_error`` < 2**31), and 0 for the voxels that edge
    padding adds past the chunk; ``energy`` (n_tokens,) int64 gets each token's sum of |q|.

    floor((|r| + E) / (2E + 1)) is ``magnitudes[|r|]`` (int64, one per |r| the chunk can hold:
    its span plus one; the caller computes them by integer division) where ``magnitudes`` is
    not empty, else a float64 division of the int64 |r| + E, exact for every |r| + E < 2**53
    (here < 2**33): the quotient a / b of integers a < 2**53, b >= 1 that is not an integer
    lies at least 1 / b from the next one, more than its rounding error (a / b) * 2**-53.
    Tokens wholly inside the chunk run rows of tx voxels without edge tests."""
    z, y, x = chunk.shape
    tz, ty, tx = token_shape[0], token_shape[1], token_shape[2]
    gy = (y + ty - 1) // ty
    gx = (x + tx - 1) // tx
    divisor = np.float64(2 * max_error + 1)
    by_table = magnitudes.shape[0] > 0
    for t in range(indices.shape[0]):
        a = t // (gy * gx)
        b = (t // gx) % gy
        c = t % gx
        row = table[indices[t]]
        target = out[t]
        total = np.int64(0)
        if by_table and (a + 1) * tz <= z and (b + 1) * ty <= y and (c + 1) * tx <= x:
            for i in range(tz):
                for j in range(ty):
                    source = chunk[a * tz + i, b * ty + j, c * tx : (c + 1) * tx]
                    v = (i * ty + j) * tx
                    for k in range(tx):
                        r = np.int64(source[k]) - np.int64(row[v + k])
                        magnitude = magnitudes[np.uint64(abs(r))]
                        target[v + k] = np.int32(magnitude if r >= 0 else -magnitude)
                        total += magnitude
        else:
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
                            if by_table:
                                magnitude = magnitudes[np.uint64(abs(r))]
                            else:
                                magnitude = np.int64(np.floor((abs(r) + max_error) / divisor))
                            q = np.int32(magnitude if r >= 0 else -magnitude)
                            total += magnitude
                        target[v + k] = q
        energy[t] = total


@jit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def normalized_tokens(chunk, token_shape, lo, span, out):
    """:func:`.tokens.normalized_tokens` into ``out`` (n_tokens, V) float32: voxel v of token t
    gets (float32(chunk voxel) - ``lo``) / ``span`` (``lo``, ``span`` float32), the voxels past
    the chunk's far edges repeating its last plane, row and sample (edge padding). The same
    IEEE float32 conversion, subtraction and division as NumPy's, one read of the chunk
    instead of a padded copy, a transposing copy and three float32 passes; each token's
    divisions run once it is written, while it is in cache."""
    z, y, x = chunk.shape
    tz, ty, tx = token_shape[0], token_shape[1], token_shape[2]
    gy = (y + ty - 1) // ty
    gx = (x + tx - 1) // tx
    for t in range(out.shape[0]):
        a = t // (gy * gx)
        b = (t // gx) % gy
        c = t % gx
        target = out[t]
        if (a + 1) * tz <= z and (b + 1) * ty <= y and (c + 1) * tx <= x:  # inside: rows of tx samples
            for i in range(tz):
                for j in range(ty):
                    source = chunk[a * tz + i, b * ty + j, c * tx : (c + 1) * tx]
                    v = (i * ty + j) * tx
                    for k in range(tx):
                        target[v + k] = np.float32(source[k]) - lo
        else:
            for i in range(tz):
                zz = min(a * tz + i, z - 1)
                for j in range(ty):
                    yy = min(b * ty + j, y - 1)
                    v = (i * ty + j) * tx
                    for k in range(tx):
                        xx = min(c * tx + k, x - 1)
                        target[v + k] = np.float32(chunk[zz, yy, xx]) - lo
        for v in range(target.shape[0]):  # apart, so that LLVM vectorises the divisions
            target[v] /= span
