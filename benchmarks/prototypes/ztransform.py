"""Prototype: CDF 9/7 lifting along z with symmetric extension, float32 step by step.

Each lifting step is one IEEE float32 add and one multiply per sample (numpy elementwise, no
fused multiply-add), as in zarr_unicompress.runtime.cdf97, so the inverse is deterministic.
Whole-sample symmetric extension (x[-1] = x[1], x[n] = x[n-2]) so the chunk's first and last
slices are not coupled as periodic extension would couple them. Scaling as bior4.4 in cdf97:
low-pass DC gain sqrt(2), which keeps the bands near orthonormal (one quantiser step stays
near MSE-optimal across z levels).

Layout after ``levels`` levels along axis 0 (n slices): [low_L | high_L | high_{L-1} | ... | high_1]
with len(low_l) = ceil(n_{l-1}/2), len(high_l) = floor(n_{l-1}/2).
"""
from __future__ import annotations

import numpy as np

from zarr_unicompress.runtime.transform.cdf97 import _ALPHA, _BETA, _DELTA, _GAMMA, _HIGH_GAIN, _LOW_GAIN


def _next(s: np.ndarray, nd: int) -> np.ndarray:
    """s[i + 1] for i < nd, the last one mirrored (s_ext[ns] = s[ns - 1])."""
    if len(s) > nd:
        return s[1: nd + 1]
    return np.concatenate([s[1:], s[-1:]])


def _prev_cur(d: np.ndarray, ns: int) -> tuple[np.ndarray, np.ndarray]:
    """(d[i - 1], d[i]) for i < ns, mirrored at both ends (d[-1] = d[0], d[nd] = d[nd - 1])."""
    prev = np.concatenate([d[:1], d[: ns - 1]])
    cur = d if len(d) == ns else np.concatenate([d, d[-1:]])
    return prev, cur


def _predict(d, s, c):
    t = _next(s, len(d)) + s[: len(d)]
    t *= np.float32(c)
    d += t


def _update(s, d, c):
    prev, cur = _prev_cur(d, len(s))
    t = prev + cur
    t *= np.float32(c)
    s += t


def forward_z(a: np.ndarray, levels: int) -> np.ndarray:
    """(n, ...) float32 -> same shape, the z-wavelet of ``levels`` levels (layout above)."""
    out = np.array(a, np.float32)
    n = out.shape[0]
    for _ in range(levels):
        if n < 2:
            break
        s = out[0:n:2].copy()
        d = out[1:n:2].copy()
        _predict(d, s, _ALPHA)
        _update(s, d, _BETA)
        _predict(d, s, _GAMMA)
        _update(s, d, _DELTA)
        s *= _LOW_GAIN
        d *= _HIGH_GAIN
        out[: len(s)] = s
        out[len(s): n] = d
        n = len(s)
    return out


def z_lengths(n: int, levels: int) -> list[int]:
    """Lengths along z of the low part before each level: [n, ceil(n/2), ...] (levels+1 entries,
    stops early when the low part reaches 1)."""
    out = [n]
    for _ in range(levels):
        if out[-1] < 2:
            break
        out.append(-(-out[-1] // 2))
    return out


def inverse_z(b: np.ndarray, levels: int) -> np.ndarray:
    out = np.array(b, np.float32)
    lengths = z_lengths(out.shape[0], levels)
    for n in reversed(lengths[:-1]):
        ns = -(-n // 2)
        s = out[:ns] * np.float32(1.0 / _LOW_GAIN)
        d = out[ns:n] * np.float32(1.0 / _HIGH_GAIN)
        _update(s, d, -_DELTA)
        _predict(d, s, -_GAMMA)
        _update(s, d, -_BETA)
        _predict(d, s, -_ALPHA)
        out[0:n:2] = s
        out[1:n:2] = d
    return out


def z_bands(n: int, levels: int) -> list[slice]:
    """z ranges of the z-bands, coarse to fine: low_L, high_L, ..., high_1."""
    lengths = z_lengths(n, levels)
    bands = [slice(0, lengths[-1])]
    for k in range(len(lengths) - 1, 0, -1):
        bands.append(slice(lengths[k], lengths[k - 1]))
    return bands


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 5, 16, 30, 31, 32):
        x = rng.normal(size=(n, 3, 4)).astype(np.float32) * 50
        for lv in range(4):
            y = forward_z(x, lv)
            err = np.abs(inverse_z(y, lv) - x).max()
            assert err < 1e-3, (n, lv, err)
    c = np.ones((32, 1, 1), np.float32)
    print("DC low gain per level", forward_z(c, 1)[0, 0, 0], forward_z(c, 2)[0, 0, 0])
    alt = np.tile(np.array([1, -1], np.float32), 16).reshape(32, 1, 1)
    print("Nyquist high gain", forward_z(alt, 1)[20, 0, 0])
    x = rng.normal(size=(32, 1, 1)).astype(np.float32)
    print("energy ratio 1 level", (forward_z(x, 1) ** 2).sum() / (x ** 2).sum())
