"""NumPy references of the transform stage's loops: the 2D CDF 9/7 lifting per slice
(:mod:`.lifting_loops`, driven by :mod:`.cdf97`), the cut into zero blocks with their peaks
(:mod:`.block_loops`) and the lifting along z (:mod:`.zlift_loops`, driven by :mod:`.cdf97_z`).

Each lifting step is whole-array NumPy float32 arithmetic with the loops' order of IEEE
operations per sample ((a + b) rounded, times the float32 constant, rounded, added, rounded),
so the loops must give these values bit for bit."""

from __future__ import annotations

import numpy as np

from zarr_unicompress.runtime.transform import cdf97_z
from zarr_unicompress.runtime.transform.cdf97 import _ALPHA, _BETA, _DELTA, _GAMMA, _HIGH_GAIN, _LOW_GAIN
from zarr_unicompress.runtime.transform.wavelet_residual import ZERO_BLOCK, block_grid

# ---------------------------------------------------------------- 2D lifting (cdf97)


def analyze(volume: np.ndarray, levels: int, base: float | np.ndarray = 0.0) -> list[np.ndarray]:
    """:func:`.cdf97.analyze` of ``volume - base``: float32 bands in coding order."""
    signal = difference(volume, base)
    bands: list[np.ndarray] = [np.empty(0, np.float32)] * (1 + 3 * levels)
    approx = signal
    for level in range(levels):
        approx, details = _forward_2d(approx)
        first = 1 + 3 * (levels - 1 - level)
        bands[first : first + 3] = details
    bands[0] = approx
    return bands


def synthesize(bands: list[np.ndarray], levels: int, shape: tuple[int, int, int]) -> np.ndarray:
    """:func:`.cdf97.synthesize`: the (z, y, x) float32 array of ``shape`` from its bands."""
    approx = bands[0]
    for level in range(levels):
        details = tuple(bands[1 + 3 * level : 4 + 3 * level])
        approx = _inverse_2d(approx[:, : details[0].shape[1], : details[0].shape[2]], details)
    return np.ascontiguousarray(approx[:, : shape[1], : shape[2]])


def difference(volume: np.ndarray, base: float | np.ndarray) -> np.ndarray:
    """``volume - base`` as float32: both sides converted to float32, one float32 subtraction."""
    out = np.array(volume, dtype=np.float32)
    if isinstance(base, np.ndarray):
        out -= base.astype(np.float32)
    elif base:
        out -= np.float32(base)
    return out


def _forward_2d(a: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    low_y, high_y = _forward_axis(a, 1)
    approx, vertical = _forward_axis(low_y, 2)
    horizontal, diagonal = _forward_axis(high_y, 2)
    return approx, (horizontal, vertical, diagonal)


def _inverse_2d(approx: np.ndarray, details: tuple[np.ndarray, ...]) -> np.ndarray:
    horizontal, vertical, diagonal = details
    low_y = _inverse_axis(approx, vertical, 2)
    high_y = _inverse_axis(horizontal, diagonal, 2)
    return _inverse_axis(low_y, high_y, 1)


def _along(axis: int, start: int | None, stop: int | None, step: int | None = None) -> tuple[slice, ...]:
    index = [slice(None)] * 3
    index[axis] = slice(start, stop, step)
    return tuple(index)


def _forward_axis(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Even and odd samples along ``axis`` (an odd length repeats its last sample), lifted."""
    n = a.shape[axis]
    if n % 2:
        a = np.concatenate([a, a[_along(axis, n - 1, n)]], axis=axis)
    low = np.ascontiguousarray(a[_along(axis, 0, None, 2)], dtype=np.float32)
    high = np.ascontiguousarray(a[_along(axis, 1, None, 2)], dtype=np.float32)
    _predict(high, low, _ALPHA, axis)
    _update(low, high, _BETA, axis)
    _predict(high, low, _GAMMA, axis)
    _update(low, high, _DELTA, axis)
    low *= _LOW_GAIN
    high *= _HIGH_GAIN
    return low, high


def _inverse_axis(low_band: np.ndarray, high_band: np.ndarray, axis: int) -> np.ndarray:
    low = low_band * np.float32(1.0 / _LOW_GAIN)
    high = high_band * np.float32(1.0 / _HIGH_GAIN)
    _update(low, high, -_DELTA, axis)
    _predict(high, low, -_GAMMA, axis)
    _update(low, high, -_BETA, axis)
    _predict(high, low, -_ALPHA, axis)
    shape = list(low.shape)
    shape[axis] *= 2
    out = np.empty(shape, np.float32)
    out[_along(axis, 0, None, 2)] = low
    out[_along(axis, 1, None, 2)] = high
    return out


def _predict(high: np.ndarray, low: np.ndarray, coef: float, axis: int) -> None:
    """high[n] += coef * (low[n] + low[n + 1]) along ``axis``, periodic; in place."""
    if low.shape[axis]:
        high += np.float32(coef) * (low + np.roll(low, -1, axis))


def _update(low: np.ndarray, high: np.ndarray, coef: float, axis: int) -> None:
    """low[n] += coef * (high[n - 1] + high[n]) along ``axis``, periodic; in place."""
    if high.shape[axis]:
        low += np.float32(coef) * (np.roll(high, 1, axis) + high)

# ---------------------------------------------------------------- zero blocks (block_loops)


def to_blocks(band: np.ndarray) -> np.ndarray:
    """(z, y, x) band -> (n_blocks, ZERO_BLOCK**2) copy in block order (z, block row, block
    column; row-major inside a block), zero-padded at the far edges."""
    z, by, bx = block_grid(band.shape)
    b = ZERO_BLOCK
    padded = np.zeros((z, by * b, bx * b), band.dtype)
    padded[:, : band.shape[1], : band.shape[2]] = band
    return padded.reshape(z, by, b, bx, b).transpose(0, 1, 3, 2, 4).reshape(z * by * bx, b * b)


def block_peaks(band: np.ndarray) -> np.ndarray:
    """Largest |value| of each block of :func:`to_blocks` (n_blocks,)."""
    return np.abs(to_blocks(band)).max(axis=1)

# ---------------------------------------------------------------- z lifting (cdf97_z)


def z_forward(a: np.ndarray, levels: int) -> np.ndarray:
    """:func:`.cdf97_z.forward`: ``levels`` levels along axis 0 of float32 ``a``."""
    rows = np.array(a, np.float32).reshape(a.shape[0], -1)
    for n in cdf97_z.lengths(a.shape[0], levels)[:-1]:
        c = cdf97_z.FORWARD_STEPS
        s, d = rows[0:n:2].copy(), rows[1:n:2].copy()
        _z_predict(d, s, c[0])
        _z_update(s, d, c[1])
        _z_predict(d, s, c[2])
        _z_update(s, d, c[3])
        s *= c[4]
        d *= c[5]
        rows[: len(s)] = s
        rows[len(s): n] = d
    return rows.reshape(a.shape)


def z_inverse(a: np.ndarray, levels: int) -> np.ndarray:
    """:func:`.cdf97_z.inverse_in_place`, on a copy."""
    rows = np.array(a, np.float32).reshape(a.shape[0], -1)
    for n in reversed(cdf97_z.lengths(a.shape[0], levels)[:-1]):
        c = cdf97_z.INVERSE_STEPS
        ns = -(-n // 2)
        s, d = rows[:ns] * c[4], rows[ns:n] * c[5]
        _z_update(s, d, c[0])
        _z_predict(d, s, c[1])
        _z_update(s, d, c[2])
        _z_predict(d, s, c[3])
        rows[0:n:2] = s
        rows[1:n:2] = d
    return rows.reshape(a.shape)


def _z_predict(d: np.ndarray, s: np.ndarray, c: np.float32) -> None:
    """d[i] += (s[i + 1] + s[i]) * c, s mirrored past its end (s[ns] = s[ns - 1])."""
    following = s[1: len(d) + 1] if len(s) > len(d) else np.concatenate([s[1:], s[-1:]])
    d += (following + s[: len(d)]) * c


def _z_update(s: np.ndarray, d: np.ndarray, c: np.float32) -> None:
    """s[i] += (d[i - 1] + d[i]) * c, d mirrored at both ends (d[-1] = d[0], d[nd] = d[nd - 1])."""
    previous = np.concatenate([d[:1], d[: len(s) - 1]])
    current = d if len(d) == len(s) else np.concatenate([d, d[-1:]])
    s += (previous + current) * c


# ---------------------------------------------------------------- ratio-mode reconstruction (synthesis_loops)


def from_blocks(nonzero: np.ndarray, values: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of :func:`to_blocks` given the blocks' flags (n_blocks,) bool and the values of
    the flagged blocks (n_flagged * ZERO_BLOCK**2,): the band (z, y, x) in ``values``' dtype."""
    z, by, bx = block_grid(shape)
    b = ZERO_BLOCK
    blocks = np.zeros((nonzero.size, b * b), values.dtype)
    blocks[nonzero] = values.reshape(-1, b * b)
    band = blocks.reshape(z, by, bx, b, b).transpose(0, 1, 3, 2, 4).reshape(z, by * b, bx * b)
    return np.ascontiguousarray(band[:, : shape[1], : shape[2]])


def reconstruct(bands: list[tuple[np.ndarray | None, np.ndarray]], levels: int, step: float,
                base: float | np.ndarray, lo: int, hi: int, shape: tuple[int, int, int], dtype: np.dtype) -> np.ndarray:
    """:func:`.ratio.reconstruct_wavelet` of quantised ``bands`` ((flags or None, values) in
    coding order): float32(q) * step per coefficient, the inverse transform, plus float32
    ``base``, rounded, clipped to [lo, hi], in ``dtype``. Raises FloatingPointError where a
    value is not finite."""
    from zarr_unicompress.runtime.transform.cdf97 import band_shapes

    float_bands = []
    with np.errstate(over="ignore", invalid="ignore"):
        for band_shape, (nonzero, values) in zip(band_shapes(shape, levels), bands, strict=True):
            values = values.astype(np.float32)
            band = values.reshape(band_shape) if nonzero is None else from_blocks(nonzero, values, band_shape)
            float_bands.append(band * np.float32(step))
        voxels = synthesize(float_bands, levels, shape)
        voxels = voxels + (base.astype(np.float32) if isinstance(base, np.ndarray) else np.float32(base))
    if not np.isfinite(voxels).all():
        raise FloatingPointError("dequantised coefficients overflow")
    return np.clip(np.rint(voxels), np.float32(lo), np.float32(hi)).astype(dtype)


def decode_ratio_stream(model: object, stream: bytes) -> np.ndarray:
    """A 2D ratio-mode stream (coder 0) decoded by :func:`reconstruct` (the entropy decoding and
    the base are the package's)."""
    from zarr_unicompress.bitstream import unpack_chunk
    from zarr_unicompress.runtime.coders.ratio import RatioCoder
    from zarr_unicompress.runtime.inr.prediction import prediction

    header, sections = unpack_chunk(stream)
    coded = RatioCoder().open(header, sections, model)
    base = (np.float32(coded.params.flat_value) if coded.indices is None else
            prediction(model, coded.indices, header.shape, header.lo, header.hi, header.dtype))
    return reconstruct(coded.bands, coded.params.levels, coded.params.step, base, header.lo, header.hi, header.shape,
                       header.dtype)
