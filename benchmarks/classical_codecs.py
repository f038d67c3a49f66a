"""Adapters for the classical codecs the benchmark compares against (imagecodecs builds).

Each :class:`KnobCodec` has one quality knob; :func:`find_knob` bisects it to a target ratio.
Per-slice codecs (JPEG-XL, JPEG 2000, AVIF) code every z-slice as a 2D image, like a viewer
would; HEVC (ffmpeg + libx265, 4:0:0 gray) codes the z-slices as the frames of one video and
only the elementary-stream bytes count; SZ3 and ZFP code the whole block in 3D (as float32, the
input type they support); sizes are always compared with the uint8 raw bytes.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable

import numpy as np

Stream = list[bytes]


@dataclass(frozen=True)
class KnobCodec:
    """A codec with a scalar knob in [lo, hi]; ``increasing``: a larger knob gives a larger ratio."""

    name: str
    lo: float
    hi: float
    increasing: bool
    encode: Callable[[np.ndarray, float], Stream]
    decode: Callable[[Stream, tuple[int, ...]], np.ndarray]
    knob_name: str
    iterations: int = 12  # bisection steps (fewer for slow encoders)
    integer: bool = False  # the knob takes integer values only


def _jpegxl() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "JPEG-XL", 0.05, 25.0, True,
        lambda b, k: [imagecodecs.jpegxl_encode(s, distance=k, effort=7, numthreads=1) for s in b],
        lambda st, shape: np.stack([imagecodecs.jpegxl_decode(x, numthreads=1) for x in st]), "distance")


def _jpeg2k() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "JPEG 2000", 15.0, 70.0, False,  # knob: OpenJPEG's target PSNR (dB) per slice
        lambda b, k: [imagecodecs.jpeg2k_encode(s, level=k, numthreads=1) for s in b],
        lambda st, shape: np.stack([imagecodecs.jpeg2k_decode(x, numthreads=1) for x in st]), "psnr_target")


def _avif() -> KnobCodec:
    """AVIF (libavif/aom) per slice. libavif codes a 1-channel image losslessly whatever the
    level, so each slice goes in as gray RGB (R=G=B; the constant chroma planes cost a few
    bytes) and channel 0 comes back. ``speed=6`` keeps the bisection affordable."""
    import imagecodecs

    return KnobCodec(
        "AVIF", 1.0, 99.0, False,  # knob: libavif quality level (100 = lossless)
        lambda b, k: [imagecodecs.avif_encode(np.repeat(s[..., None], 3, axis=2), level=int(k), speed=6,
                                              numthreads=1) for s in b],
        lambda st, shape: np.stack([imagecodecs.avif_decode(x, numthreads=1)[..., 0] for x in st]), "level",
        iterations=8, integer=True)


def _ffmpeg(args: list[str], data: bytes) -> bytes:
    done = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", *args], input=data,
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {done.stderr.decode(errors='replace')[-500:]}")
    return done.stdout


def _hevc_encode(block: np.ndarray, crf: float) -> Stream:
    depth, height, width = block.shape
    return [_ffmpeg(["-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{width}x{height}", "-r", "25", "-i", "-",
                     "-c:v", "libx265", "-preset", "medium", "-pix_fmt", "gray", "-threads", "1",
                     "-x265-params", f"crf={crf:.3f}:pools=1:frame-threads=1:log-level=error",
                     "-f", "hevc", "-"], block.tobytes())]


def _hevc_decode(stream: Stream, shape: tuple[int, ...]) -> np.ndarray:
    raw = _ffmpeg(["-threads", "1", "-f", "hevc", "-i", "-", "-f", "rawvideo", "-pix_fmt", "gray", "-"], stream[0])
    return np.frombuffer(raw, np.uint8).reshape(shape)


def _hevc() -> KnobCodec | None:
    """HEVC via the ffmpeg CLI with libx265 (Debian's ffmpeg), z-slices as frames, preset
    medium, 1 thread. Times include starting the ffmpeg process (about 0.05 s)."""
    if shutil.which("ffmpeg") is None:
        return None
    return KnobCodec("HEVC (x265)", 1.0, 51.0, True, _hevc_encode, _hevc_decode, "crf", iterations=8)


def _sz3() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "SZ3 (3D)", 0.05, 120.0, True,
        lambda b, k: [imagecodecs.sz3_encode(b.astype(np.float32), abs=k)],
        lambda st, shape: _to_uint8(imagecodecs.sz3_decode(st[0], shape=shape, dtype=np.float32)), "abs_error")


def _zfp() -> KnobCodec:
    import imagecodecs

    return KnobCodec(
        "ZFP (3D)", 0.5, 31.0, False,  # fixed-precision mode: bit planes kept
        lambda b, k: [imagecodecs.zfp_encode(b.astype(np.float32), level=int(round(k)), mode="p")],
        lambda st, shape: _to_uint8(imagecodecs.zfp_decode(st[0])), "precision")


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def lossy_codecs() -> list[KnobCodec]:
    """Every lossy codec available here (HEVC only where ffmpeg is on PATH)."""
    hevc = _hevc()
    return [_jpegxl(), _jpeg2k(), _avif(), *([hevc] if hevc else []), _sz3(), _zfp()]


def lossless_codecs() -> dict[str, tuple[Callable[[np.ndarray], Stream], Callable[[Stream, tuple], np.ndarray]]]:
    """The ratio floor: lossless zstd-19 and blosc2 (zstd, bit shuffle) on the raw bytes."""
    import imagecodecs

    return {
        "zstd-19": (lambda b: [imagecodecs.zstd_encode(b.tobytes(), level=19)],
                    lambda st, shape: np.frombuffer(imagecodecs.zstd_decode(st[0]), np.uint8).reshape(shape)),
        "blosc2": (lambda b: [imagecodecs.blosc2_encode(b.tobytes(), level=9, compressor="zstd", shuffle=2,
                                                        typesize=1, numthreads=1)],
                   lambda st, shape: np.frombuffer(imagecodecs.blosc2_decode(st[0]), np.uint8).reshape(shape)),
    }


def size(stream: Stream) -> int:
    return sum(len(s) for s in stream)


def find_knob(codec: KnobCodec, block: np.ndarray, target: float, iterations: int = 12) -> tuple[float, Stream] | None:
    """The knob whose ratio is the smallest one >= ``target`` (bisection); None if out of reach."""
    lo, hi = codec.lo, codec.hi
    best: tuple[float, Stream] | None = None
    tried: set[float] = set()
    for _ in range(min(iterations, codec.iterations)):
        mid = float(round((lo + hi) / 2)) if codec.integer else (lo * hi) ** 0.5
        if mid in tried:
            break
        tried.add(mid)
        stream = codec.encode(block, mid)
        ratio = block.nbytes / size(stream)
        if ratio >= target:
            best = (mid, stream) if best is None or size(stream) > size(best[1]) else best
        if (ratio >= target) == codec.increasing:
            hi = mid
        else:
            lo = mid
    return best
