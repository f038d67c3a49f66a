"""Compiled (numba) CDF 9/7 lifting along z with symmetric extension: the same float32
operations in the same order as ztransform.py's NumPy steps (each sample: (a + b) rounded,
times the float32 constant, rounded, added, rounded; no fast-math, so no fused multiply-add).

Arrays are viewed as (n, m): n samples along z, m = y * x columns; every step runs over whole
rows (unit stride, vectorised by LLVM).
"""
from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True, fastmath=False)


@_jit
def _predict(high, low, c):
    nd, ns = high.shape[0], low.shape[0]
    for i in range(nd):
        nxt = i + 1 if i + 1 < ns else ns - 1
        a, b, d = low[nxt], low[i], high[i]
        for k in range(d.shape[0]):
            d[k] += (a[k] + b[k]) * c


@_jit
def _update(low, high, c):
    nd, ns = high.shape[0], low.shape[0]
    for i in range(ns):
        prv = i - 1 if i > 0 else 0
        cur = i if i < nd else nd - 1
        a, b, s = high[prv], high[cur], low[i]
        for k in range(s.shape[0]):
            s[k] += (a[k] + b[k]) * c


@_jit
def forward_level(a, n, low, high, steps):
    """One level on rows 0..n-1 of ``a`` (rows, m) float32, in place: [low (ceil(n/2)) | high]."""
    ns = (n + 1) // 2
    nd = n // 2
    for i in range(ns):
        low[i] = a[2 * i]
    for i in range(nd):
        high[i] = a[2 * i + 1]
    lo, hi = low[:ns], high[:nd]
    _predict(hi, lo, steps[0])
    _update(lo, hi, steps[1])
    _predict(hi, lo, steps[2])
    _update(lo, hi, steps[3])
    for i in range(ns):
        r = lo[i]
        for k in range(r.shape[0]):
            r[k] *= steps[4]
        a[i] = r
    for i in range(nd):
        r = hi[i]
        for k in range(r.shape[0]):
            r[k] *= steps[5]
        a[ns + i] = r


@_jit
def inverse_level(a, n, low, high, steps):
    """Inverse of :func:`forward_level` on rows 0..n-1 of ``a``, in place."""
    ns = (n + 1) // 2
    nd = n // 2
    for i in range(ns):
        for k in range(a.shape[1]):
            low[i, k] = a[i, k] * steps[4]
    for i in range(nd):
        for k in range(a.shape[1]):
            high[i, k] = a[ns + i, k] * steps[5]
    lo, hi = low[:ns], high[:nd]
    _update(lo, hi, steps[0])
    _predict(hi, lo, steps[1])
    _update(lo, hi, steps[2])
    _predict(hi, lo, steps[3])
    for i in range(ns):
        a[2 * i] = lo[i]
    for i in range(nd):
        a[2 * i + 1] = hi[i]


if __name__ == "__main__":
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from ztransform import forward_z, inverse_z, z_lengths

    from zarr_unicompress.runtime.transform.cdf97 import _ALPHA, _BETA, _DELTA, _GAMMA, _HIGH_GAIN, _LOW_GAIN

    fwd = np.array([_ALPHA, _BETA, _GAMMA, _DELTA, _LOW_GAIN, _HIGH_GAIN], np.float32)
    inv = np.array([-_DELTA, -_GAMMA, -_BETA, -_ALPHA, np.float32(1.0 / _LOW_GAIN),
                    np.float32(1.0 / _HIGH_GAIN)], np.float32)

    def fz(x, levels):
        a = np.array(x, np.float32).reshape(x.shape[0], -1)
        low = np.empty(((a.shape[0] + 1) // 2, a.shape[1]), np.float32)
        high = np.empty_like(low)
        for n in z_lengths(a.shape[0], levels)[:-1]:
            forward_level(a, n, low, high, fwd)
        return a.reshape(x.shape)

    def iz(x, levels):
        a = np.array(x, np.float32).reshape(x.shape[0], -1)
        low = np.empty(((a.shape[0] + 1) // 2, a.shape[1]), np.float32)
        high = np.empty_like(low)
        for n in reversed(z_lengths(a.shape[0], levels)[:-1]):
            inverse_level(a, n, low, high, inv)
        return a.reshape(x.shape)

    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 5, 7, 16, 30, 31, 32, 64):
        x = (rng.normal(size=(n, 5, 7)) * 300).astype(np.float32)
        for lv in range(5):
            assert np.array_equal(fz(x, lv), forward_z(x, lv)), (n, lv)
            y = forward_z(x, lv)
            assert np.array_equal(iz(y, lv), inverse_z(y, lv)), (n, lv, "inv")
    x = (rng.normal(size=(32, 256, 256)) * 30).astype(np.float32)
    fz(x, 3), iz(x, 3)
    t = time.perf_counter(); fz(x, 3); t1 = time.perf_counter(); iz(x, 3); t2 = time.perf_counter()
    print("bit-exact vs NumPy; compiled fwd/inv (32,256,256) 3 levels:", t1 - t, t2 - t1)
