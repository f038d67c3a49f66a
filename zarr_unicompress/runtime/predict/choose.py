"""The encoder's choice of a predictor per token (plain Python that :mod:`.loops` compiles):
the open-loop cost of each allowed predictor of the codebook on the original voxels, in
approximate bits (2 log2(1 + |r| / s) per voxel from a table in steps of 1/8, r the prediction
residual in float64, s = 2E + 1), on a subsample of the token's voxels, plus ``switch_bits``
where the index differs from the one of the token to the left (or above). The decoder never
runs this (it reads the indices), so floats are fine here."""

from __future__ import annotations

import numpy as np

from .taps import N_TAPS

_STEPS = 8
#: 2 log2(1 + k / _STEPS) for k = 0 .. 4095.
_LOG_COST = 2.0 * np.log2(1.0 + np.arange(4096) / _STEPS)


def choose_classes(vp, coefs_float, ntaps, offs, shape, token, n_classes, n_2d, max_error, switch_bits, sub,
                   classes):
    """Fill ``classes`` (Z*TY*TX,) int64 with each token's predictor index; ``vp`` is the chunk
    in the work layout (int64, margins replicated from the edges), ``coefs_float`` (K*N_TAPS,)
    float64 the coefficients / 2**SHIFT, ``sub`` >= 1 the subsampling (the voxels with
    (x + y) % sub == 0 count)."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    yp = ny + 5
    xp = nx + 4
    sy = yp * xp
    ty_n = (ny + token - 1) // token
    tx_n = (nx + token - 1) // token
    scale = _STEPS / (2 * max_error + 1)
    cost = np.zeros(n_classes, np.float64)
    tapv = np.zeros(N_TAPS, np.float64)
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
                        v = float(vp[i])
                        for t in range(N_TAPS):
                            tapv[t] = vp[i + offs[t]]
                        for k in range(allowed):
                            acc = 0.0
                            base = k * N_TAPS
                            for t in range(ntaps[k]):
                                acc += coefs_float[base + t] * tapv[t]
                            a = abs(v - acc) * scale
                            cost[k] += _LOG_COST[int(a) if a < 4095.0 else 4095]
                ct = (z * ty_n + ty) * tx_n + tx
                left = 0
                if tx > 0:
                    left = classes[ct - 1]
                elif ty > 0:
                    left = classes[ct - tx_n]
                if left >= allowed:
                    left = 0
                best = left
                best_cost = cost[left]
                for k in range(allowed):
                    c = cost[k] + switch_bits
                    if c < best_cost:
                        best = k
                        best_cost = c
                classes[ct] = best
