"""Adapters for the classical codecs the benchmark compares against (imagecodecs builds).

Each :class:`KnobCodec` has one quality knob; :func:`find_knob` bisects it to a target ratio.
Per-slice codecs (JPEG-XL, JPEG 2000) code every z-slice as a 2D image, like a viewer would;
SZ3 and ZFP code the whole block in 3D (as float32, the input type they support); sizes are
always compared with the uint8 raw bytes.
"""

from __future__ import annotations

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
    return [_jpegxl(), _jpeg2k(), _sz3(), _zfp()]


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
    for _ in range(iterations):
        mid = (lo * hi) ** 0.5
        stream = codec.encode(block, mid)
        ratio = block.nbytes / size(stream)
        if ratio >= target:
            best = (mid, stream) if best is None or size(stream) > size(best[1]) else best
        if (ratio >= target) == codec.increasing:
            hi = mid
        else:
            lo = mid
    return best
