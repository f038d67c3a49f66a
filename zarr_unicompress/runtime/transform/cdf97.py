"""2D CDF 9/7 wavelet per z-slice by lifting, in float32: PyWavelets' ``bior4.4`` with
``mode="periodization"``, 10-13x faster with the compiled loops.

The transform is the one PyWavelets computes (the tests compare both to float32 rounding):
each level splits axis y, then axis x, into low (s) and high (d) halves with the four
lifting steps of Daubechies & Sweldens (1998) and a scaling that matches ``bior4.4``'s
normalisation (low-pass DC gain sqrt(2)). Periodic extension; a level on an odd length
first repeats the last sample, as PyWavelets does, so a band has ceil(n / 2) samples per
axis. The inverse crops each level to the next band's size, as ``pywt.waverec2`` does.

Why not PyWavelets: its convolution along the non-contiguous axis y gathers every column
into a buffer and costs three times the contiguous axis, and a 5-level transform of a
(30, 512, 512) chunk took 0.14 s, half of a ratio-mode encode or decode then. Here the lifting
runs as the loops of :mod:`.lifting_loops` (compiled by numba, see :mod:`.numba_support`: IEEE
float32 add and multiply in a fixed order, no fused multiply-add, so the same values on every
machine), on slabs of a few slices that stay in cache; this module cuts the slabs and sizes the
bands.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

from .. import numba_support

# lifting coefficients of the CDF 9/7 wavelet (Daubechies & Sweldens 1998, JPEG 2000 Part 1)
_ALPHA = -1.586134342059924
_BETA = -0.052980118572961
_GAMMA = 0.882911075530934
_DELTA = 0.443506852043971
_KAPPA = 1.230174104914001
#: factors that give PyWavelets' ``bior4.4`` bands from the lifted low and high halves.
_LOW_GAIN = np.float32(np.sqrt(2.0) / _KAPPA)
_HIGH_GAIN = np.float32(-_KAPPA / np.sqrt(2.0))
#: the float32 constants of the forward steps (alpha, beta, gamma, delta, low gain, high
#: gain) and of the inverse ones (-delta, -gamma, -beta, -alpha, 1 / low gain, 1 / high
#: gain), as the loops take them.
_FORWARD_STEPS = np.array([_ALPHA, _BETA, _GAMMA, _DELTA, _LOW_GAIN, _HIGH_GAIN], np.float32)
INVERSE_STEPS = np.array([-_DELTA, -_GAMMA, -_BETA, -_ALPHA, np.float32(1.0 / _LOW_GAIN),
                          np.float32(1.0 / _HIGH_GAIN)], np.float32)
#: voxels transformed together (whole slices, at least one), so that a slab and its halves
#: stay in cache: 4 slices of 512 x 512 were fastest for (30, 512, 512) chunks (5 levels: 1
#: slice 58 ms, 2: 53, 4: 51, all 30 at once: 80). Slabs this large also keep the Python
#: overhead per voxel low, which holds the GIL: (16, 256, 256) chunks transform 1.6x faster
#: on 2 threads than on 1 with 16-slice slabs, 1.3x with 4-slice ones.
SLAB_VOXELS = 1 << 20


def slab_slices(shape: tuple[int, int, int]) -> int:
    """Slices per slab for a (z, y, x) array: SLAB_VOXELS worth, at least 1."""
    return max(1, SLAB_VOXELS // max(1, shape[1] * shape[2]))

Bands = list[np.ndarray]


def band_sizes(length: int, levels: int) -> list[int]:
    """Samples along one axis of the approximation after each level: ceil(n / 2) per level."""
    sizes = []
    for _ in range(levels):
        length = -(-length // 2)
        sizes.append(length)
    return sizes


def analyze(volume: np.ndarray, levels: int, base: float | np.ndarray = 0.0,
            consume: Callable[[slice, Bands], None] | None = None) -> Bands | None:
    """Bands of ``volume - base`` ((z, y, x), any real dtype; ``base`` a number or an array of
    the volume's shape), float32, in coding order: the approximation of the last level, then
    (horizontal, vertical, diagonal) details from the coarsest level to the finest, as
    ``pywt.wavedec2(volume - base, "bior4.4", mode="periodization", level=levels, axes=(1, 2))``
    lists them (flattened). ``levels`` >= 1. The difference is taken in float32, one slab at a
    time, so it costs no pass over the whole chunk.

    With ``consume``, the bands of each slab (a slice along z and its bands in coding order)
    go to ``consume`` while they are still in cache, and nothing is returned.
    """
    z = volume.shape[0]
    bands = None
    if consume is None:
        bands = [np.empty(shape, np.float32) for shape in band_shapes(volume.shape, levels)]
    step = slab_slices(volume.shape)
    for z0 in range(0, z, step):
        slab = slice(z0, z0 + step)
        slab_bands: Bands = [np.empty(0, np.float32)] * (1 + 3 * levels)
        # the first level splits the rows of the input itself (no float32 copy of the slab)
        approx, details = _compiled_x(_loops(), *_compiled_first_y(_loops(), volume, base, slab))
        for level in range(levels):
            if level:
                approx, details = _forward_2d(approx)
            first = 1 + 3 * (levels - 1 - level)
            slab_bands[first : first + 3] = details
        slab_bands[0] = approx
        if bands is None:
            consume(slab, slab_bands)
        else:
            for band, slab_band in zip(bands, slab_bands):
                band[slab] = slab_band
    return bands


def analyze_into_blocks(volume: np.ndarray, levels: int, base: float | np.ndarray, units: list[np.ndarray],
                        peaks: list[np.ndarray], block: int) -> bool:
    """:func:`analyze` with each band written straight into its zero blocks: ``units[k]``
    (z * by * bx, block**2) float32 and ``peaks[k]`` (z * by * bx,) float32 of band k in coding
    order, laid out as :func:`.wavelet_residual.cut_into_blocks` writes them (the same
    values). Returns False, writing nothing, for 0 levels."""
    compiled = _loops()
    if levels < 1:
        return False
    _check_block_layout(volume, levels, base, units, peaks, block)
    nothing = np.empty((0, 0, 0), np.float32)
    step = slab_slices(volume.shape)
    for z0 in range(0, volume.shape[0], step):
        low_y, high_y = _compiled_first_y(compiled, volume, base, slice(z0, z0 + step))
        for level in range(levels):
            last = level == levels - 1
            approx = nothing if last else np.empty(_half_shape(low_y.shape, 2), np.float32)
            first = 1 + 3 * (levels - 1 - level)  # horizontal, vertical, diagonal
            compiled.forward_x_blocks(low_y, z0, approx, units[0], peaks[0], units[first + 1], peaks[first + 1],
                                      last, _FORWARD_STEPS, block)
            compiled.forward_x_blocks(high_y, z0, nothing, units[first], peaks[first], units[first + 2],
                                      peaks[first + 2], True, _FORWARD_STEPS, block)
            if not last:
                low_y, high_y = _compiled_forward(compiled.forward_y, approx, 1)
    return True


def _check_block_layout(volume: np.ndarray, levels: int, base: float | np.ndarray, units: list[np.ndarray],
                        peaks: list[np.ndarray], block: int) -> None:
    """Refuse (ValueError) arrays that :func:`analyze_into_blocks`' loops, which check no
    index, would write past: one C-contiguous float32 ``units`` (n, block**2) and ``peaks`` (n,)
    per band, n = z * ceil(y / block) * ceil(x / block) of the band, and a base of the volume's
    shape."""
    shapes = band_shapes(volume.shape, levels)
    if volume.ndim != 3 or len(units) != len(shapes) or len(peaks) != len(shapes) or block < 1:
        raise ValueError(f"analyze_into_blocks needs a 3D volume and {len(shapes)} unit and peak arrays")
    if isinstance(base, np.ndarray) and base.shape != volume.shape:
        raise ValueError(f"base of shape {base.shape} for a volume of shape {volume.shape}")
    for (z, y, x), u, p in zip(shapes, units, peaks):
        n = z * -(-y // block) * -(-x // block)
        for array, want in ((u, (n, block * block)), (p, (n,))):
            if array.shape != want or array.dtype != np.float32 or not array.flags.c_contiguous:
                raise ValueError(f"analyze_into_blocks needs C-contiguous float32 arrays of shape {want} "
                                 f"for a band of shape {(z, y, x)}; got {array.dtype} {array.shape}")


def band_shapes(shape: tuple[int, int, int], levels: int) -> list[tuple[int, int, int]]:
    """Shapes of the bands of a (z, y, x) array in coding order; ``[shape]`` for 0 levels."""
    if not levels:
        return [shape]
    z, y, x = shape
    sizes = list(zip(band_sizes(y, levels), band_sizes(x, levels)))
    return [(z, *sizes[-1])] + [(z, *sizes[level]) for level in reversed(range(levels)) for _ in range(3)]


def synthesize(bands: Bands, levels: int, shape: tuple[int, int, int],
               consume: Callable[[slice, np.ndarray], None] | None = None) -> np.ndarray | None:
    """Inverse of :func:`analyze`: the (z, y, x) float32 array of ``shape`` from its bands
    (float32, coding order; other dtypes are converted), as ``pywt.waverec2`` computes it,
    cropped to ``shape``. Raises ValueError where a level's bands differ in shape.

    With ``consume``, each slab (a slice along z and its (n, y, x) float32 values, which the
    callee may modify) goes to ``consume`` while it is still in cache, and nothing is returned.
    """
    z, y, x = shape
    out = np.empty(shape, np.float32) if consume is None else None
    step = slab_slices(shape)
    for z0 in range(0, z, step):
        slab = slice(z0, z0 + step)
        approx = bands[0][slab]
        for level in range(levels):
            details = tuple(band[slab] for band in bands[1 + 3 * level : 4 + 3 * level])
            approx = _inverse_2d(approx[:, : details[0].shape[1], : details[0].shape[2]], details)
        if consume is None:
            out[slab] = approx[:, :y, :x]
        else:
            consume(slab, approx[:, :y, :x])
    return out


def difference(volume: np.ndarray, base: float | np.ndarray, slab: slice | tuple[slice, ...] = slice(None)) -> np.ndarray:
    """``volume[slab] - base[slab]`` (or minus the number ``base``) as a new float32 array."""
    out = np.array(volume[slab], dtype=np.float32)
    if isinstance(base, np.ndarray):
        out -= base[slab].astype(np.float32, copy=False)
    elif base:
        out -= np.float32(base)
    return out


def _forward_2d(a: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One level on (z, y, x) float32: approximation and (horizontal, vertical, diagonal)
    details."""
    return _compiled_x(_loops(), *_compiled_forward(_loops().forward_y, a, 1))


def _loops() -> ModuleType:
    """:mod:`.lifting_loops` (compiled by numba, or plain: see :mod:`.numba_support`)."""
    return numba_support.loops("transform.lifting_loops")


def _half_shape(shape: tuple[int, ...], axis: int) -> list[int]:
    """``shape`` with ``axis`` halved, rounding up (the length of each lifted half)."""
    half = list(shape)
    half[axis] = -(-half[axis] // 2)
    return half


def _compiled_forward(kernel: Callable, a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Low and high halves (new float32 arrays) of float32 ``a`` along ``axis`` by a compiled
    loop of :mod:`.lifting_loops`."""
    low, high = np.empty(_half_shape(a.shape, axis), np.float32), np.empty(_half_shape(a.shape, axis), np.float32)
    kernel(a, low, high, _FORWARD_STEPS)
    return low, high


def _compiled_first_y(compiled: ModuleType, volume: np.ndarray, base: float | np.ndarray,
                      slab: slice) -> tuple[np.ndarray, np.ndarray]:
    """The halves along y of ``volume[slab] - base`` (:func:`difference`'s values) by
    :func:`.lifting_loops.forward_y_difference`, which takes the difference in its split (no
    float32 copy of the slab)."""
    signal = volume[slab]
    low, high = np.empty(_half_shape(signal.shape, 1), np.float32), np.empty(_half_shape(signal.shape, 1), np.float32)
    is_array = isinstance(base, np.ndarray)
    compiled.forward_y_difference(signal, base[slab] if is_array else signal[:0], np.float32(0.0 if is_array else base),
                                  is_array, low, high, _FORWARD_STEPS)
    return low, high


def _compiled_x(compiled: ModuleType, low_y: np.ndarray,
                high_y: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The x step of a level on the y halves: approximation and (horizontal, vertical,
    diagonal) details, by the compiled loops."""
    approx, vertical = _compiled_forward(compiled.forward_x, low_y, 2)
    horizontal, diagonal = _compiled_forward(compiled.forward_x, high_y, 2)
    return approx, (horizontal, vertical, diagonal)


def _compiled_inverse(kernel: Callable, low: np.ndarray, high: np.ndarray, axis: int) -> np.ndarray:
    """Interleaved signal (float32, twice the halves' length along ``axis``) of two halves, by a
    loop of :mod:`.lifting_loops`."""
    shape = list(low.shape)
    shape[axis] *= 2
    out = np.empty(shape, np.float32)
    kernel(low, high, out, INVERSE_STEPS)
    return out


def _inverse_2d(approx: np.ndarray, details: tuple[np.ndarray, ...]) -> np.ndarray:
    """Inverse of :func:`_forward_2d` (even output lengths; the caller crops)."""
    horizontal, vertical, diagonal = details
    low_y = _inverse_axis(approx, vertical, 2)
    high_y = _inverse_axis(horizontal, diagonal, 2)
    return _inverse_axis(low_y, high_y, 1)


def _inverse_axis(low_band: np.ndarray, high_band: np.ndarray, axis: int) -> np.ndarray:
    """Interleaved signal (float32, twice the halves' length along ``axis``, 1 or 2) of two
    halves of one shape."""
    if low_band.ndim != 3 or low_band.shape != high_band.shape:  # the loops check no index
        raise ValueError(f"inverse lifting of halves of shapes {low_band.shape} and {high_band.shape}")
    low = low_band.astype(np.float32, copy=False)
    high = high_band.astype(np.float32, copy=False)
    return _compiled_inverse(_loops().inverse_y if axis == 1 else _loops().inverse_x, low, high, axis)
