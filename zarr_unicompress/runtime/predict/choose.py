"""The encoder's choice of a predictor per token (plain Python that :mod:`.loops` compiles):
the open-loop cost of each allowed predictor of the codebook on the original voxels, in
approximate bits (2 log2(1 + |r| / s) per voxel, r the prediction residual, s = 2E + 1), on a
subsample of the token's voxels, plus ``switch_bits`` where the index differs from the one of
the token to the left (or above). The decoder never runs this: it reads the indices."""

from __future__ import annotations

import math

import numpy as np

from .taps import N_TAPS, SHIFT

_HALF = 1 << (SHIFT - 1)


def choose_classes(vp, coefs, ntaps, offs, shape, token, n_classes, n_2d, max_error, switch_bits, sub, classes):
    """Fill ``classes`` (Z*TY*TX,) int64 with each token's predictor index; ``vp`` is the chunk
    in the work layout (float-free int64, margins replicated from the edges), ``sub`` >= 1 the
    subsampling (the voxels with (x + y) % sub == 0 count)."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    yp = ny + 5
    xp = nx + 4
    sy = yp * xp
    ty_n = (ny + token - 1) // token
    tx_n = (nx + token - 1) // token
    inv_s = 1.0 / (2 * max_error + 1)
    cost = np.zeros(n_classes, np.float64)
    for z in range(nz):
        allowed = n_2d if z == 0 else n_classes
        for ty in range(ty_n):
            for tx in range(tx_n):
                for k in range(allowed):
                    cost[k] = 0.0
                for y in range(max(1, ty * token), min(ny, (ty + 1) * token)):
                    row = (z + 1) * sy + (y + 3) * xp + 2
                    for x in range(tx * token + (y % sub), min(nx, (tx + 1) * token), sub):
                        i = row + x
                        v = vp[i]
                        for k in range(allowed):
                            acc = 0
                            base = k * N_TAPS
                            for t in range(ntaps[k]):
                                acc += coefs[base + t] * vp[i + offs[t]]
                            r = v - ((acc + _HALF) >> SHIFT)
                            cost[k] += math.log2(1.0 + abs(r) * inv_s)
                ct = (z * ty_n + ty) * tx_n + tx
                left = 0
                if tx > 0:
                    left = classes[ct - 1]
                elif ty > 0:
                    left = classes[ct - tx_n]
                if left >= allowed:
                    left = 0
                best = left
                best_cost = 2.0 * cost[left]
                for k in range(allowed):
                    c = 2.0 * cost[k] + switch_bits
                    if c < best_cost:
                        best = k
                        best_cost = c
                classes[ct] = best
