"""The inverse 2D CDF 9/7 of :mod:`.cdf97` on torch tensors, with the same float32 results.

Each lifting step is the sequence of separate IEEE float32 operations of the loops
(:mod:`..transform.lifting_loops`: an add, a multiply, an add in place), one operation per
kernel, so no fused multiply-add can change a rounding; the constants are the loops' float32
values. The transform works per z-slice, so tensors may stack the slices of many chunks along
z.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..transform import cdf97

if TYPE_CHECKING:
    import torch

#: float32 constants exactly as the NumPy transform uses them (python floats holding float32 values).
_INV_LOW_GAIN = float(np.float32(1.0 / cdf97._LOW_GAIN))
_INV_HIGH_GAIN = float(np.float32(1.0 / cdf97._HIGH_GAIN))
_INVERSE_STEPS = tuple(float(np.float32(c)) for c in (-cdf97._DELTA, -cdf97._GAMMA, -cdf97._BETA, -cdf97._ALPHA))


def synthesize(bands: list[torch.Tensor], levels: int, shape: tuple[int, int, int]) -> torch.Tensor:
    """:func:`.cdf97.synthesize` of float32 bands (Z, y_b, x_b) in coding order: (Z, y, x)
    float32, cropped to ``shape``'s (y, x); Z is any number of stacked slices."""
    approx = bands[0]
    for level in range(levels):
        horizontal, vertical, diagonal = bands[1 + 3 * level : 4 + 3 * level]
        approx = approx[:, : horizontal.shape[1], : horizontal.shape[2]]
        low_y = _inverse_axis(approx, vertical, 2)
        high_y = _inverse_axis(horizontal, diagonal, 2)
        approx = _inverse_axis(low_y, high_y, 1)
    return approx[:, : shape[1], : shape[2]].contiguous()


def _inverse_axis(low_band: torch.Tensor, high_band: torch.Tensor, axis: int) -> torch.Tensor:
    """:func:`.cdf97._inverse_axis`: the interleaved signal along ``axis`` (1 or 2), twice the
    halves' length."""
    import torch

    low = low_band * _INV_LOW_GAIN
    high = high_band * _INV_HIGH_GAIN
    delta, gamma, beta, alpha = _INVERSE_STEPS
    _update(low, high, delta, axis)
    _predict(high, low, gamma, axis)
    _update(low, high, beta, axis)
    _predict(high, low, alpha, axis)
    shape = list(low.shape)
    shape[axis] *= 2
    return torch.stack((low, high), dim=axis + 1).reshape(shape)


def _predict(high: torch.Tensor, low: torch.Tensor, coef: float, axis: int) -> None:
    """high[n] += coef * (low[n] + low[n + 1]) along ``axis``, periodic; in place."""
    _add_neighbour_sums(high, low, coef, axis, to_next=False)


def _update(low: torch.Tensor, high: torch.Tensor, coef: float, axis: int) -> None:
    """low[n] += coef * (high[n - 1] + high[n]) along ``axis``, periodic; in place."""
    _add_neighbour_sums(low, high, coef, axis, to_next=True)


def _add_neighbour_sums(target: torch.Tensor, source: torch.Tensor, coef: float, axis: int, to_next: bool) -> None:
    """Sum k = coef * (source[k] + source[k + 1]) (k < m - 1; sum m - 1 wraps to source[0]) is
    added to target[k], or with ``to_next`` to target[k + 1] (the last one to target[0]); in
    place, in NumPy's order: the m - 1 body sums, then the wrapped one."""
    m = source.shape[axis]
    term = source.narrow(axis, 0, m - 1) + source.narrow(axis, 1, m - 1)
    term *= coef
    target.narrow(axis, 1 if to_next else 0, m - 1).add_(term)
    term = source.narrow(axis, m - 1, 1) + source.narrow(axis, 0, 1)
    term *= coef
    target.narrow(axis, 0 if to_next else m - 1, 1).add_(term)
