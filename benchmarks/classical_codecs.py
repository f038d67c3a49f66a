"""Ratio anchors: classical codecs with one quality knob each, bisected to a target ratio.

Every codec takes a 3D (z, y, x) uint8 or uint16 volume and gives back the same shape and
dtype; sizes are always compared with the raw bytes of the input.

- Per slice (each z-slice a 2D image, as a viewer would store it): JPEG-XL (effort 7, knob
  distance), JPEG 2000 (OpenJPEG, knob: target PSNR per slice), AVIF (libavif/aom speed 6,
  knob: quality level; each slice given as gray RGB because libavif codes a 1-channel image
  losslessly whatever the level).
- Video, z-slices as frames (benchmarks/video_codecs.py, PyAV): x265 HEVC preset slow gray,
  SVT-AV1 preset 6 yuv420p with neutral chroma; knob crf.
- 3D on the whole volume: SPERR (knob bits per voxel), SZ3 (knob absolute error bound),
  ZFP (fixed precision). They code float32 (exact for uint8/uint16); the result is rounded
  and clipped to the dtype.

:func:`bisect_knob` finds the knob whose ratio is the smallest one >= the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from video_codecs import SVTAV1, X265, AnchorUnsupported, Stream, VideoSetup, video_decode, video_encode

Decoder = Callable[[Stream, tuple[int, ...], np.dtype], np.ndarray]


@dataclass(frozen=True)
class KnobCodec:
    """A codec with a scalar knob in [lo, hi]; ``increasing``: a larger knob gives a larger ratio.

    ``encode(volume, knob) -> Stream`` and ``decode(stream, shape, dtype) -> volume``;
    ``settings`` names the fixed parameters (part of the cache key)."""

    name: str
    lo: float
    hi: float
    increasing: bool
    encode: Callable[[np.ndarray, float], Stream]
    decode: Decoder
    knob_name: str
    iterations: int = 12  # bisection steps (fewer for slow encoders)
    integer: bool = False  # the knob takes integer values only
    geometric: bool = True  # bisect at the geometric mean (knob acts multiplicatively)
    settings: str = ""


def _peak(volume: np.ndarray) -> int:
    if volume.dtype not in (np.uint8, np.uint16):
        raise AnchorUnsupported(f"expected a uint8 or uint16 volume, got {volume.dtype}")
    return int(np.iinfo(volume.dtype).max)


def _to_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.clip(np.rint(x), 0, np.iinfo(dtype).max).astype(dtype)


def _avif_depth(volume: np.ndarray) -> int:
    if volume.dtype == np.uint8:
        return 8
    top = int(volume.max())
    for depth in (10, 12):
        if top < 1 << depth:
            return depth
    raise AnchorUnsupported(f"AVIF codes at most 12 bits per sample; this uint16 volume reaches {top}")


def jpegxl() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "JPEG-XL", 0.05, 25.0, True,
        lambda b, k: [imagecodecs.jpegxl_encode(s, distance=k, effort=7, numthreads=1) for s in b],
        lambda st, shape, dt: np.stack([imagecodecs.jpegxl_decode(x, numthreads=1) for x in st]).astype(dt),
        "distance", iterations=10, settings="effort=7 per-slice")


def jpeg2k() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "JPEG 2000", 15.0, 100.0, False,  # knob: OpenJPEG's target PSNR (dB) per slice
        lambda b, k: [imagecodecs.jpeg2k_encode(s, level=k, numthreads=1) for s in b],
        lambda st, shape, dt: np.stack([imagecodecs.jpeg2k_decode(x, numthreads=1) for x in st]).astype(dt),
        "psnr_target", iterations=10, geometric=False, settings="openjpeg per-slice")


def _avif_encode(block: np.ndarray, level: float) -> Stream:
    import imagecodecs

    depth = _avif_depth(block)
    return [imagecodecs.avif_encode(np.repeat(s[..., None], 3, axis=2), level=int(level), speed=6,
                                    bitspersample=depth, numthreads=1) for s in block]


def avif() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "AVIF", 1.0, 99.0, False, _avif_encode,  # knob: libavif quality level (100 = lossless)
        lambda st, shape, dt: np.stack([imagecodecs.avif_decode(x, numthreads=1)[..., 0] for x in st]).astype(dt),
        "level", iterations=8, integer=True, geometric=False, settings="speed=6 gray-rgb per-slice")


def _video(name: str, setup: VideoSetup, hi: float, integer: bool, settings: str) -> KnobCodec:
    return KnobCodec(name, 1.0, hi, True, lambda b, k: video_encode(b, setup, k),
                     lambda st, shape, dt: video_decode(st, setup, shape, dt), "crf", iterations=7,
                     integer=integer, geometric=False, settings=settings)


def x265() -> KnobCodec:
    return _video("HEVC (x265)", X265, 51.0, False, "preset=slow gray pyav 1-thread")


def svtav1() -> KnobCodec:
    return _video("AV1 (SVT-AV1)", SVTAV1, 63.0, True, "preset=6 yuv420p-neutral pyav 1-thread")


def sperr3d() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "SPERR (3D)", 0.01, 16.0, False,  # knob: bits per voxel of the float32 volume
        lambda b, k: [imagecodecs.sperr_encode(b.astype(np.float32), mode="bpp", level=k, numthreads=1)],
        lambda st, shape, dt: _to_dtype(imagecodecs.sperr_decode(st[0], numthreads=1), dt), "bpp",
        iterations=9, settings="mode=bpp 3D")


def sz3() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "SZ3 (3D)", 0.05, 30000.0, True,
        lambda b, k: [imagecodecs.sz3_encode(b.astype(np.float32), abs=k * _peak(b) / 255)],
        lambda st, shape, dt: _to_dtype(imagecodecs.sz3_decode(st[0], shape=shape, dtype=np.float32), dt),
        "abs_error_per_255", iterations=14, settings="abs 3D")


def zfp() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "ZFP (3D)", 1.0, 31.0, False,  # fixed-precision mode: bit planes kept
        lambda b, k: [imagecodecs.zfp_encode(b.astype(np.float32), level=int(round(k)), mode="p")],
        lambda st, shape, dt: _to_dtype(imagecodecs.zfp_decode(st[0]), dt), "precision",
        integer=True, geometric=False, settings="mode=p 3D")


RATIO_ANCHORS: dict[str, Callable[[], KnobCodec]] = {
    "JPEG-XL": jpegxl, "AVIF": avif, "JPEG 2000": jpeg2k, "HEVC (x265)": x265, "AV1 (SVT-AV1)": svtav1,
    "SPERR (3D)": sperr3d, "SZ3 (3D)": sz3, "ZFP (3D)": zfp,
}


def lossy_codecs(names: list[str] | None = None) -> list[KnobCodec]:
    """The ratio anchors (all of :data:`RATIO_ANCHORS`, or those named, in that order)."""
    return [make() for name, make in RATIO_ANCHORS.items() if names is None or name in names]


def size(stream: Stream) -> int:
    """Stored bytes of a stream (sum over its parts)."""
    return sum(len(s) for s in stream)


def bisect_knob(codec: KnobCodec, target: float, ratio_of: Callable[[float], float],
                iterations: int | None = None, known: dict[float, float] | None = None,
                tolerance: float = 0.02) -> float | None:
    """The knob whose ratio is the smallest one >= ``target`` found in ``iterations`` steps
    (default ``codec.iterations``); None if no knob tried reaches it. Stops early once a
    ratio in [target, target * (1 + tolerance)] is found.

    Each step bisects the bracket (geometric mean for multiplicative knobs) until both ends
    are measured, then interpolates log(ratio) linearly in the knob (log knob for
    multiplicative ones), kept 10 % inside the bracket so that it always shrinks.
    Deterministic, so a cached ``ratio_of`` replays it without encoding.
    ``ratio_of(knob)`` measures a ratio; ``known`` (knob -> ratio, e.g. from earlier targets)
    narrows the starting bracket."""
    lo, hi = codec.lo, codec.hi
    ends: dict[str, float | None] = {"lo": None, "hi": None}  # measured ratio at each end
    best: tuple[float, float] | None = None  # (knob, ratio)
    known = dict(known or {})
    geometric = codec.geometric and codec.lo > 0

    def consider(knob: float, ratio: float) -> None:
        nonlocal lo, hi, best
        good = ratio >= target
        if good and (best is None or ratio < best[1]):
            best = (knob, ratio)
        if good == codec.increasing:  # increasing & good, or decreasing & too large: lower the top
            if knob <= hi:
                hi, ends["hi"] = knob, ratio
        elif knob >= lo:
            lo, ends["lo"] = knob, ratio

    def scale(k: float) -> float:
        return float(np.log(k)) if geometric else k

    def next_knob() -> float:
        t_lo, t_hi = scale(lo), scale(hi)
        if ends["lo"] is None or ends["hi"] is None or ends["lo"] == ends["hi"]:
            t = (t_lo + t_hi) / 2
        else:
            y_lo, y_hi = np.log(ends["lo"]), np.log(ends["hi"])
            t = t_lo + (np.log(target * (1 + tolerance / 4)) - y_lo) * (t_hi - t_lo) / (y_hi - y_lo)
            t = float(np.clip(t, t_lo + 0.1 * (t_hi - t_lo), t_hi - 0.1 * (t_hi - t_lo)))
        knob = float(np.exp(t)) if geometric else t
        if codec.integer:
            knob = float(min(max(round(knob), lo + 1), hi - 1))
        return knob

    for knob, ratio in known.items():
        if codec.lo <= knob <= codec.hi:
            consider(knob, ratio)
    for _ in range(iterations or codec.iterations):
        if best is not None and best[1] <= target * (1 + tolerance):
            break
        if codec.integer and hi - lo <= 1:
            break
        if not codec.integer and (hi / lo < 1.01 if geometric else hi - lo < 0.005 * (codec.hi - codec.lo)):
            break  # bracket already tight
        mid = next_knob()
        if mid in known or not codec.lo <= mid <= codec.hi:
            break
        known[mid] = ratio_of(mid)
        consider(mid, known[mid])
    return None if best is None else best[0]


def find_knob(codec: KnobCodec, block: np.ndarray, target: float, iterations: int = 12) -> tuple[float, Stream] | None:
    """Uncached bisection: (knob, stream) whose ratio is the smallest one >= ``target``."""
    streams: dict[float, Stream] = {}

    def ratio_of(knob: float) -> float:
        streams[knob] = codec.encode(block, knob)
        return block.nbytes / size(streams[knob])

    knob = bisect_knob(codec, target, ratio_of, min(iterations, codec.iterations))
    return None if knob is None else (knob, streams[knob])
