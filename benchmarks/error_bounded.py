"""Error-bounded and lossless anchors: codecs that guarantee max |error| <= E (intensity units).

Each codec takes a 3D (z, y, x) uint8 or uint16 volume and an integer bound E >= 0.

- JPEG-LS near=E, per slice (CharLS via imagecodecs); near=0 is lossless JPEG-LS.
- SZ3 abs=E, 3D on the whole volume (float32; rounding the result to integers keeps the
  bound because the original values are integers). At E = 0 it runs with abs=0.49, so that
  the rounded result is lossless (SZ3 has no abs=0).
- SPERR pwe=E (point-wise error), 3D on the whole volume; pwe=0.49 at E = 0, as for SZ3.
- Lossless only (E = 0): JPEG-XL lossless (effort 7, per slice), and the floors zstd-19 and
  blosc2 (zstd level 9, bit shuffle) on the raw bytes.

The bound is not taken on trust: :mod:`anchors` measures max |error| of every decoded result
and flags a violation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from classical_codecs import Decoder, _to_dtype
from video_codecs import AnchorUnsupported, Stream


@dataclass(frozen=True)
class BoundedCodec:
    """``encode(volume, E) -> Stream``, ``decode(stream, shape, dtype) -> volume``;
    ``lossless_only``: the codec has no lossy setting (reported at E = 0 only)."""

    name: str
    encode: Callable[[np.ndarray, int], Stream]
    decode: Decoder
    settings: str
    lossless_only: bool = False


def _float_bound(bound: int) -> float:
    return 0.49 if bound == 0 else float(bound)


def jpegls() -> BoundedCodec:
    import imagecodecs

    return BoundedCodec(
        "JPEG-LS", lambda b, e: [imagecodecs.jpegls_encode(np.ascontiguousarray(s), level=int(e)) for s in b],
        lambda st, shape, dt: np.stack([imagecodecs.jpegls_decode(x) for x in st]).astype(dt),
        "near=E per-slice")


def sz3_bounded() -> BoundedCodec:
    import imagecodecs

    return BoundedCodec(
        "SZ3 (3D)", lambda b, e: [imagecodecs.sz3_encode(b.astype(np.float32), abs=_float_bound(e))],
        lambda st, shape, dt: _to_dtype(imagecodecs.sz3_decode(st[0], shape=shape, dtype=np.float32), dt),
        "abs=E (0.49 at E=0) 3D")


def sperr_bounded() -> BoundedCodec:
    import imagecodecs

    return BoundedCodec(
        "SPERR (3D)",
        lambda b, e: [imagecodecs.sperr_encode(b.astype(np.float32), mode="pwe", level=_float_bound(e), numthreads=1)],
        lambda st, shape, dt: _to_dtype(imagecodecs.sperr_decode(st[0], numthreads=1), dt),
        "pwe=E (0.49 at E=0) 3D")


def _lossless(encode: Callable[[np.ndarray], Stream]) -> Callable[[np.ndarray, int], Stream]:
    def run(block: np.ndarray, bound: int) -> Stream:
        if bound != 0:
            raise AnchorUnsupported("a lossless-only codec is run at E = 0 only")
        return encode(block)
    return run


def jpegxl_lossless() -> BoundedCodec:
    import imagecodecs

    return BoundedCodec(
        "JPEG-XL lossless",
        _lossless(lambda b: [imagecodecs.jpegxl_encode(s, lossless=True, effort=7, numthreads=1) for s in b]),
        lambda st, shape, dt: np.stack([imagecodecs.jpegxl_decode(x, numthreads=1) for x in st]).astype(dt),
        "effort=7 per-slice", lossless_only=True)


def _raw(data: bytes, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return np.frombuffer(data, dtype).reshape(shape)


def zstd19() -> BoundedCodec:
    import imagecodecs

    return BoundedCodec(
        "zstd-19", _lossless(lambda b: [imagecodecs.zstd_encode(b.tobytes(), level=19)]),
        lambda st, shape, dt: _raw(imagecodecs.zstd_decode(st[0]), shape, dt), "level=19 raw bytes", True)


def blosc2() -> BoundedCodec:
    import imagecodecs

    return BoundedCodec(
        "blosc2",
        _lossless(lambda b: [imagecodecs.blosc2_encode(b.tobytes(), level=9, compressor="zstd", shuffle=2,
                                                       typesize=b.dtype.itemsize, numthreads=1)]),
        lambda st, shape, dt: _raw(imagecodecs.blosc2_decode(st[0]), shape, dt), "zstd level=9 bitshuffle", True)


BOUNDED_ANCHORS: dict[str, Callable[[], BoundedCodec]] = {
    "JPEG-LS": jpegls, "SZ3 (3D)": sz3_bounded, "SPERR (3D)": sperr_bounded,
    "JPEG-XL lossless": jpegxl_lossless, "zstd-19": zstd19, "blosc2": blosc2,
}


def bounded_codecs(names: list[str] | None = None) -> list[BoundedCodec]:
    """The error-bounded anchors (all of :data:`BOUNDED_ANCHORS`, or those named)."""
    return [make() for name, make in BOUNDED_ANCHORS.items() if names is None or name in names]
