"""Quality and rate-distortion helpers shared by the benchmarks (no codec code here).

All functions take 3D (z, y, x) integer volumes. PSNR uses the dtype's full range (255 for
uint8, 65535 for uint16) unless ``data_range`` is given; SSIM is the mean of per-slice 2D SSIM
(scikit-image). Rates are bits per voxel ``bits / ratio``; BD-rate is relative, so the bit
depth cancels out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, Sequence

import numpy as np


class RDPoint(Protocol):
    """Anything with a compression ratio and a PSNR (dB): bench_rd.Point, anchors.AnchorResult."""

    ratio: float
    psnr: float


def data_range_of(volume: np.ndarray) -> float:
    """The PSNR peak of ``volume``'s dtype: 255.0 for uint8, 65535.0 for uint16."""
    if volume.dtype.kind not in "ui":
        raise ValueError(f"expected an integer volume, got dtype {volume.dtype}")
    return float(np.iinfo(volume.dtype).max)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float | None = 255.0) -> float:
    """PSNR (dB) of ``b`` against ``a`` over the whole array; inf when identical.
    ``data_range=None``: the peak of ``a``'s dtype."""
    peak = data_range_of(a) if data_range is None else data_range
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def mean_slice_ssim(a: np.ndarray, b: np.ndarray, data_range: float | None = 255.0) -> float:
    """Mean over z of the 2D SSIM of each (y, x) slice (scikit-image, 7x7 window)."""
    from skimage.metrics import structural_similarity

    peak = data_range_of(a) if data_range is None else data_range
    return float(np.mean([structural_similarity(x, y, data_range=peak) for x, y in zip(a, b)]))


def max_abs_error(a: np.ndarray, b: np.ndarray) -> int:
    """Largest |a - b| over all voxels (intensity units)."""
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


def bd_rate(ref: Sequence[RDPoint], test: Sequence[RDPoint]) -> float | None:
    """Bjontegaard delta rate (%) of ``test`` vs ``ref`` over their common PSNR range (cubic fit
    of log rate against PSNR, each curve needs >= 4 finite points; None otherwise).

    Negative: ``test`` needs fewer bits for the same PSNR. Rate is 1 / ratio (bit depth cancels).
    """
    def fit(points: Sequence[RDPoint]):
        pts = sorted((p for p in points if np.isfinite(p.psnr)), key=lambda p: p.psnr)
        if len(pts) < 4:
            return None
        q = np.array([p.psnr for p in pts])
        r = np.log(np.array([8.0 / p.ratio for p in pts]))
        return q, np.polyfit(q, r, 3)

    a, b = fit(ref), fit(test)
    if a is None or b is None:
        return None
    lo, hi = max(a[0].min(), b[0].min()), min(a[0].max(), b[0].max())
    if lo >= hi:
        return None
    ia, ib = np.polyint(a[1]), np.polyint(b[1])
    avg = ((np.polyval(ib, hi) - np.polyval(ib, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return float((np.exp(avg) - 1) * 100)


def pareto_envelope(points: Sequence[RDPoint]) -> list[RDPoint]:
    """The points no other point beats (higher ratio and higher PSNR), sorted by ratio: the
    best-of curve of several codecs, for a BD-rate against "the best anchor at every rate"."""
    pts = sorted((p for p in points if np.isfinite(p.psnr)), key=lambda p: (-p.ratio, -p.psnr))
    front: list[RDPoint] = []
    best = -np.inf
    for p in pts:  # from the highest ratio down, keep each point that raises the best PSNR
        if p.psnr > best:
            front.append(p)
            best = p.psnr
    return front[::-1]


def psnr_at_ratio(points: Sequence[RDPoint], ratio: float) -> float | None:
    """PSNR of a codec's RD curve at ``ratio``: linear in log(ratio) between the two points
    that bracket it (a point at that ratio itself where there is one); None outside the
    curve's range. Where several points share a ratio (a knob at its limit), the first counts."""
    curve: dict[float, float] = {}
    for p in sorted(points, key=lambda p: p.ratio):
        if np.isfinite(p.psnr):
            curve.setdefault(round(p.ratio, 6), p.psnr)
    ratios = np.array(list(curve))
    if len(ratios) == 0 or not ratios[0] <= ratio <= ratios[-1]:
        return None
    return float(np.interp(np.log(ratio), np.log(ratios), np.array(list(curve.values()))))


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
