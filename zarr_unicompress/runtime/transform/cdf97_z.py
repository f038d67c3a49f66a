"""CDF 9/7 wavelet along z (axis 0) with symmetric extension, by float32 lifting: the z step of
the 3D ratio coder (:mod:`..coders.ratio3d`).

In: float32 arrays (n, ...) (n samples along z; the trailing axes are columns, e.g. a 2D band
(n, y_b, x_b)). Out: the same shape, ``levels`` levels along z laid out as
``[low_L | high_L | high_(L-1) | ... | high_1]`` (:func:`z_bands` gives the ranges), each
low part ceil(n_l / 2) long and each high part floor(n_l / 2). A level needs n_l >= 2.

The lifting steps and constants are those of :mod:`.cdf97` (Daubechies & Sweldens 1998;
bior4.4 scaling: DC gain sqrt(2) per level, so the bands stay near orthonormal and one
quantiser step stays near MSE-optimal across z levels). The extension is whole-sample
symmetric (x[-1] = x[1], x[n] = x[n - 2]) rather than periodic: a chunk's first and last slices
are not neighbours. Every step is one IEEE float32 add or multiply per sample, in the same
order in the loops (:mod:`.zlift_loops`, compiled by numba, see :mod:`..numba_support`) and in
torch (:mod:`..device.cdf97_torch`), so the inverse gives the same float32 values on every
thread count, process and device.
"""

from __future__ import annotations

import numpy as np

from .. import numba_support
from .cdf97 import _ALPHA, _BETA, _DELTA, _GAMMA, _HIGH_GAIN, _LOW_GAIN

#: the most z levels a stream may declare.
MAX_Z_LEVELS = 3
#: forward constants (alpha, beta, gamma, delta, low gain, high gain) and inverse ones
#: (-delta, -gamma, -beta, -alpha, 1 / low gain, 1 / high gain), float32 as the steps use them.
FORWARD_STEPS = np.array([_ALPHA, _BETA, _GAMMA, _DELTA, _LOW_GAIN, _HIGH_GAIN], np.float32)
INVERSE_STEPS = np.array([-_DELTA, -_GAMMA, -_BETA, -_ALPHA, np.float32(1.0 / _LOW_GAIN),
                          np.float32(1.0 / _HIGH_GAIN)], np.float32)


def max_levels(n: int) -> int:
    """The most z levels for ``n`` slices: each level halves (rounding up) a length >= 2,
    at most MAX_Z_LEVELS."""
    levels = 0
    while n >= 2 and levels < MAX_Z_LEVELS:
        n, levels = -(-n // 2), levels + 1
    return levels


def lengths(n: int, levels: int) -> list[int]:
    """Length of the low part before each level: [n, ceil(n / 2), ...], ``levels`` + 1 entries."""
    if not 0 <= levels <= max_levels(n):
        raise ValueError(f"{levels} z levels for {n} slices (0..{max_levels(n)} possible)")
    out = [n]
    for _ in range(levels):
        out.append(-(-out[-1] // 2))
    return out


def z_bands(n: int, levels: int) -> list[slice]:
    """Ranges along z of the z-bands, coarse to fine: low_L, high_L, ..., high_1."""
    sizes = lengths(n, levels)
    bands = [slice(0, sizes[-1])]
    for k in range(len(sizes) - 1, 0, -1):
        bands.append(slice(sizes[k], sizes[k - 1]))
    return bands


def forward(a: np.ndarray, levels: int) -> np.ndarray:
    """The z wavelet of ``a`` (n, ...) float32: a new float32 array of its shape."""
    out = np.array(a, np.float32, order="C")
    _run(out, levels, inverse=False)
    return out


def forward_more_in_place(a: np.ndarray, done: int, levels: int) -> None:
    """``a`` (n, ...) float32 C-contiguous holding :func:`forward` (``a0``, ``done``) becomes
    :func:`forward` (``a0``, ``levels``) (levels >= done), in place: the levels done + 1 ..
    ``levels`` lift the low part further, the same operations as :func:`forward`'s."""
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        raise ValueError(f"forward_more_in_place needs a C-contiguous float32 array, got {a.dtype}")
    _run(a, levels, inverse=False, first=done)


def inverse_in_place(a: np.ndarray, levels: int) -> None:
    """Inverse of :func:`forward` on ``a`` (n, ...) float32 C-contiguous, in place."""
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        raise ValueError(f"inverse_in_place needs a C-contiguous float32 array, got {a.dtype}")
    _run(a, levels, inverse=True)


def _run(a: np.ndarray, levels: int, inverse: bool, first: int = 0) -> None:
    """Levels ``first`` .. ``levels`` - 1 (from the finest) of the forward or inverse lifting."""
    sizes = lengths(a.shape[0], levels)[first:-1]
    if not sizes or a.size == 0:
        return
    rows = a.reshape(a.shape[0], -1)
    compiled = numba_support.loops("transform.zlift_loops")
    low = np.empty(((a.shape[0] + 1) // 2, rows.shape[1]), np.float32)
    high = np.empty_like(low)
    for n in (reversed(sizes) if inverse else sizes):
        (compiled.inverse_level if inverse else compiled.forward_level)(
            rows, n, low, high, INVERSE_STEPS if inverse else FORWARD_STEPS)
