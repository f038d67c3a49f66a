"""CDF 9/7 lifting along one axis as loops compiled by numba (plain Python where numba does
not run, see :mod:`.numba_support`): the transform of :mod:`.cdf97`.

Why loops: whole-array NumPy lifting (an add into a scratch array, a multiply, an add in
place per step) makes eight memory passes per step; a loop does one, and the split into (or
merge from) even and odd samples goes into the same loop. The encoder's
first level also takes the difference with the base in that split
(:func:`forward_y_difference`), and its last step along x writes each band straight into its
zero blocks with their peaks (:func:`forward_x_blocks`), instead of a float32 copy of the slab
and a cut of every band afterwards. On one core a 5-level transform of a (30, 512, 512) chunk
took 48 ms in NumPy and 14 ms here (benchmarks/RESULTS.md, v0.3.1).

The same values on every machine: every sample gets a fixed sequence of IEEE float32
operations (``(a + b)`` rounded, times the float32 constant, rounded, added, rounded). numba
compiles without fast-math, so LLVM neither reassociates nor fuses a multiply and an add (it
may run several samples at once in SIMD registers, which rounds each the same way). The tests
compare the loops with a whole-array NumPy reference (tests/reference/transform.py) on every
shape class and dtype; the torch decoder (:mod:`.cdf97_torch`) follows the same sequence, so
CPU and GPU decodes stay identical.
"""

from __future__ import annotations

import numpy as np

from .block_loops import put_block_row
from ..numba_support import jit

#: compiled with numba's on-disk cache, releasing the GIL, without fast-math (each IEEE float32
#: operation on its own: never fused into a multiply-add, never reordered).
_jit = jit(cache=True, nogil=True, fastmath=False)
#: the periodic predict and update steps of a row are inlined into the row loops (as calls
#: they made the x steps 20-30 % slower); the row helpers of the y steps stay calls (inlined,
#: the y steps ran 2-3x slower)
_row = jit(cache=True, nogil=True, fastmath=False, inline="always")


@_jit
def forward_y(a, low, high, steps):
    """Forward lifting along axis 1 of ``a`` (z, n, x) float32: even rows into ``low`` (z, m,
    x), odd rows into ``high`` (z, m, x), m = ceil(n / 2), an odd n repeating its last row;
    then the four steps and the scaling, in place. Rows are taken as 1D views, so that the
    loops over x run on unit-stride rows that LLVM vectorises."""
    z, n, _ = a.shape
    m = low.shape[1]
    for k in range(z):
        for j in range(m):
            copy_row(a[k, 2 * j], low[k, j])
            copy_row(a[k, 2 * j + 1 if 2 * j + 1 < n else n - 1], high[k, j])
        lift_y_slice(low[k], high[k], steps)


@_jit
def forward_y_difference(volume, base, base_value, base_is_array, low, high, steps):
    """:func:`forward_y` of ``volume - base`` (``volume`` (z, n, x) of any real dtype; ``base``
    an array of its shape where ``base_is_array``, else the number ``base_value``), the
    difference taken as :func:`.cdf97.difference` takes it (both sides converted to float32,
    then one float32 subtraction), without a float32 copy of the slab."""
    z, n, _ = volume.shape
    m = low.shape[1]
    for k in range(z):
        for j in range(m):
            odd = 2 * j + 1 if 2 * j + 1 < n else n - 1
            if base_is_array:
                difference_row(volume[k, 2 * j], base[k, 2 * j], low[k, j])
                difference_row(volume[k, odd], base[k, odd], high[k, j])
            else:
                difference_row_value(volume[k, 2 * j], base_value, low[k, j])
                difference_row_value(volume[k, odd], base_value, high[k, j])
        lift_y_slice(low[k], high[k], steps)


@_jit
def difference_row(values, base, target):
    for i in range(target.shape[0]):
        target[i] = np.float32(values[i]) - np.float32(base[i])


@_jit
def difference_row_value(values, base_value, target):
    for i in range(target.shape[0]):
        target[i] = np.float32(values[i]) - base_value


@_jit
def lift_y_slice(low, high, steps):
    """The four lifting steps and the scaling along axis 0 of one slice's halves ``low`` and
    ``high`` (m, x) float32, in place."""
    m = low.shape[0]
    alpha, beta, gamma, delta, low_gain, high_gain = steps[0], steps[1], steps[2], steps[3], steps[4], steps[5]
    for j in range(m):  # predict: high[j] += alpha * (low[j] + low[j + 1]), periodic
        lift_row(high[j], low[j], low[j + 1 if j + 1 < m else 0], alpha)
    for j in range(m):  # update: low[j] += beta * (high[j - 1] + high[j]), periodic
        lift_row(low[j], high[j - 1 if j > 0 else m - 1], high[j], beta)
    for j in range(m):
        lift_row(high[j], low[j], low[j + 1 if j + 1 < m else 0], gamma)
    for j in range(m):
        lift_row(low[j], high[j - 1 if j > 0 else m - 1], high[j], delta)
    for j in range(m):
        scale_row(low[j], low_gain)
        scale_row(high[j], high_gain)


@_jit
def copy_row(source, target):
    for i in range(target.shape[0]):
        target[i] = source[i]


@_jit
def lift_row(target, first, second, c):
    """target[i] += c * (first[i] + second[i]) along one row."""
    for i in range(target.shape[0]):
        target[i] += c * (first[i] + second[i])


@_jit
def scale_row(target, c):
    for i in range(target.shape[0]):
        target[i] *= c


@_jit
def forward_x(a, low, high, steps):
    """Forward lifting along axis 2 of ``a`` (z, y, n) float32 into ``low`` and ``high`` (z, y,
    m), m = ceil(n / 2): as :func:`forward_y` along x."""
    z, y, _ = a.shape
    for k in range(z):
        for r in range(y):
            lift_x_row(a[k, r], low[k, r], high[k, r], steps)


@_jit
def forward_x_blocks(a, z0, low, low_units, low_peaks, high_units, high_peaks, low_in_blocks, steps, block):
    """:func:`forward_x` of ``a`` (z, y, n), slices ``z0`` .. ``z0 + z`` of a band pair, with
    the high half (and, where ``low_in_blocks``, the low half) written straight into its zero
    blocks: ``*_units`` (Z * by * bx, block**2) and their peaks ``*_peaks`` (Z * by * bx,) as
    :func:`.block_loops.put_block_row` lays them out (by = ceil(y / block), bx = ceil(m / block)); else
    the low half goes to ``low`` (z, y, m). The rows of one block row are lifted into buffers,
    then each block is written whole (one cache line of 16 float32) with its peak."""
    z, y, n = a.shape
    m = (n + 1) // 2
    by = (y + block - 1) // block
    bx = (m + block - 1) // block
    lo = np.zeros((block, bx * block), np.float32)  # zero past m: the blocks' padding
    hi = np.zeros((block, bx * block), np.float32)
    for k in range(z):
        for br in range(by):
            rows = min(block, y - br * block)
            for i in range(rows):
                r = br * block + i
                row_low = lo[i, :m] if low_in_blocks else low[k, r]
                lift_x_row(a[k, r], row_low, hi[i, :m], steps)
            for i in range(rows, block):  # past the band's last row: the blocks' padding
                lo[i, :] = 0.0
                hi[i, :] = 0.0
            if low_in_blocks:
                put_block_row(lo, low_units, low_peaks, (z0 + k) * by + br, bx, block)
            put_block_row(hi, high_units, high_peaks, (z0 + k) * by + br, bx, block)


@_jit
def lift_x_row(row, lo, hi, steps):
    """The forward lifting of one row (n,) float32 into its low and high halves (m,) each,
    m = ceil(n / 2) (an odd n repeats its last sample)."""
    n = row.shape[0]
    m = lo.shape[0]
    alpha, beta, gamma, delta, low_gain, high_gain = steps[0], steps[1], steps[2], steps[3], steps[4], steps[5]
    for j in range(n // 2):  # no test in this loop, so that LLVM vectorises the strided loads
        lo[j] = row[2 * j]
        hi[j] = row[2 * j + 1]
    if n % 2:
        lo[m - 1] = row[n - 1]
        hi[m - 1] = row[n - 1]
    predict_periodic(hi, lo, alpha)
    update_periodic(lo, hi, beta)
    predict_periodic(hi, lo, gamma)
    update_periodic(lo, hi, delta)
    for j in range(m):
        lo[j] *= low_gain
        hi[j] *= high_gain


@_row
def predict_periodic(high, low, c):
    """high[j] += c * (low[j] + low[j + 1]) along one row (m,), periodic: the predict step."""
    m = low.shape[0]
    if m == 0:  # an empty axis: nothing to lift (and no [m - 1] to touch)
        return
    for j in range(m - 1):
        high[j] += c * (low[j] + low[j + 1])
    high[m - 1] += c * (low[m - 1] + low[0])


@_row
def update_periodic(low, high, c):
    """low[j] += c * (high[j - 1] + high[j]) along one row (m,), periodic: the update step."""
    m = high.shape[0]
    if m == 0:
        return
    low[0] += c * (high[m - 1] + high[0])
    for j in range(1, m):
        low[j] += c * (high[j - 1] + high[j])


@_jit
def inverse_y(low, high, out, steps):
    """Inverse lifting along axis 1: ``low`` and ``high`` (z, m, x) float32 scaled by the
    inverse gains into the even and odd rows of ``out`` (z, 2m, x), then the four inverse
    steps (``steps`` = -delta, -gamma, -beta, -alpha, 1 / low gain, 1 / high gain) in place,
    on 1D row views as in :func:`forward_y`."""
    z, m, _ = low.shape
    delta, gamma, beta, alpha, inv_low, inv_high = steps[0], steps[1], steps[2], steps[3], steps[4], steps[5]
    for k in range(z):
        for j in range(m):
            scaled_row(low[k, j], out[k, 2 * j], inv_low)
            scaled_row(high[k, j], out[k, 2 * j + 1], inv_high)
        for j in range(m):  # update: low[j] += delta * (high[j - 1] + high[j])
            lift_row(out[k, 2 * j], out[k, 2 * (j - 1 if j > 0 else m - 1) + 1], out[k, 2 * j + 1], delta)
        for j in range(m):  # predict: high[j] += gamma * (low[j] + low[j + 1])
            lift_row(out[k, 2 * j + 1], out[k, 2 * j], out[k, 2 * (j + 1 if j + 1 < m else 0)], gamma)
        for j in range(m):
            lift_row(out[k, 2 * j], out[k, 2 * (j - 1 if j > 0 else m - 1) + 1], out[k, 2 * j + 1], beta)
        for j in range(m):
            lift_row(out[k, 2 * j + 1], out[k, 2 * j], out[k, 2 * (j + 1 if j + 1 < m else 0)], alpha)


@_jit
def scaled_row(source, target, c):
    for i in range(target.shape[0]):
        target[i] = source[i] * c


@_jit
def inverse_x(low, high, out, steps):
    """Inverse lifting along axis 2: ``low`` and ``high`` (z, y, m) float32 into ``out`` (z,
    y, 2m), as :func:`inverse_y` along x (the halves are lifted in a row buffer, then
    interleaved)."""
    z, y, m = low.shape
    delta, gamma, beta, alpha, inv_low, inv_high = steps[0], steps[1], steps[2], steps[3], steps[4], steps[5]
    lo = np.empty(m, np.float32)
    hi = np.empty(m, np.float32)
    for k in range(z):
        for r in range(y):
            for j in range(m):
                lo[j] = low[k, r, j] * inv_low
                hi[j] = high[k, r, j] * inv_high
            update_periodic(lo, hi, delta)
            predict_periodic(hi, lo, gamma)
            update_periodic(lo, hi, beta)
            predict_periodic(hi, lo, alpha)
            row = out[k, r]
            for j in range(m):
                row[2 * j] = lo[j]
                row[2 * j + 1] = hi[j]
