"""CDF 9/7 lifting along z with symmetric extension (:mod:`.cdf97_z`) as loops compiled by
numba (see :mod:`..numba_support`): each sample gets (a + b) rounded, times the float32
constant, rounded, added, rounded; numba compiles without fast-math, so LLVM neither
reassociates nor fuses a multiply and an add (tests/reference/transform.py is the
whole-array NumPy reference).

Arrays are viewed as (n, m): n samples along z, m = y * x columns; every step runs over whole
rows (unit stride, vectorised by LLVM).
"""
from __future__ import annotations

from ..numba_support import jit

_jit = jit(cache=True, nogil=True, fastmath=False)


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
    """One level on rows 0..n-1 of ``a`` (rows, m) float32, in place: [low (ceil(n/2)) | high];
    ``low`` and ``high`` are scratch arrays (>= ceil(n/2), m) float32, ``steps``
    :data:`.cdf97_z.FORWARD_STEPS`."""
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
    """Inverse of :func:`forward_level` on rows 0..n-1 of ``a``, in place (``steps``
    :data:`.cdf97_z.INVERSE_STEPS`)."""
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
