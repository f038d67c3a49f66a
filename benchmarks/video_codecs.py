"""Video codecs as volume anchors through PyAV (its wheels carry libx265 and SVT-AV1, so no
system ffmpeg is needed): the z-slices of a (z, y, x) volume are the frames of one video.

- x265 (HEVC): 4:0:0 gray (``gray``, ``gray10le`` / ``gray12le`` for uint16 data that fits),
  preset slow, one thread (``pools=1:frame-threads=1``), knob: crf.
- SVT-AV1 (AV1): yuv420p (``yuv420p10le`` for uint16 < 1024) with neutral chroma (128 or 512,
  which costs a few bytes per frame), preset 6, one thread (``lp=1``), knob: crf (integer).

Only packet bytes (plus any extradata) count as stored bytes. Decoding goes back through
PyAV (x265 -> FFmpeg's hevc decoder, AV1 -> libdav1d) and reads the luma plane directly, so
no colour-range conversion touches the values. Odd heights or widths are padded by edge
replication to even (and sides under 64 to 64: x265 corrupted memory on 32 x 48 frames here)
and cropped after decoding; the padding's bytes count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1: errors only on stderr

Stream = list[bytes]


class AnchorUnsupported(ValueError):
    """The anchor cannot code this input (dtype, bit depth or shape); the message says why."""


@dataclass(frozen=True)
class VideoSetup:
    encoder: str  # PyAV encoder name
    decoder: str  # PyAV decoder name
    chroma: bool  # yuv420p with neutral chroma (True) or gray (False)
    options: tuple[tuple[str, str], ...]  # fixed encoder options besides the knob


X265 = VideoSetup("libx265", "hevc", False,
                  (("preset", "slow"), ("x265-params", "pools=1:frame-threads=1:log-level=error")))
SVTAV1 = VideoSetup("libsvtav1", "libdav1d", True, (("preset", "6"), ("svtav1-params", "lp=1")))


def _bit_depth(volume: np.ndarray, setup: VideoSetup) -> int:
    if volume.dtype == np.uint8:
        return 8
    if volume.dtype != np.uint16:
        raise AnchorUnsupported(f"{setup.encoder}: expected uint8 or uint16, got {volume.dtype}")
    top = int(volume.max()) if volume.size else 0
    depths = (10,) if setup.chroma else (10, 12)
    for depth in depths:
        if top < 1 << depth:
            return depth
    raise AnchorUnsupported(f"{setup.encoder}: uint16 values up to {top} need more than {depths[-1]} bits; "
                            f"this encoder codes at most {depths[-1]} bits per sample")


def _pix_fmt(depth: int, chroma: bool) -> str:
    if chroma:
        return "yuv420p" if depth == 8 else "yuv420p10le"
    return {8: "gray", 10: "gray10le", 12: "gray12le"}[depth]


#: smallest frame side given to the encoders (x265 corrupts memory on frames under its 64-pixel
#: CTU here: seen with 32 x 48 frames); smaller volumes are padded by edge replication
MIN_SIDE = 64


def _pad_frames(volume: np.ndarray) -> np.ndarray:
    _, h, w = volume.shape
    ph, pw = max(MIN_SIDE, h + h % 2) - h, max(MIN_SIDE, w + w % 2) - w
    return np.pad(volume, ((0, 0), (0, ph), (0, pw)), mode="edge")


def video_encode(volume: np.ndarray, setup: VideoSetup, crf: float) -> Stream:
    """Code ``volume`` (z, y, x) uint8/uint16 as a video at ``crf``; returns the packets (the
    first item is the extradata, empty for both encoders here as no global header is asked)."""
    import av

    if volume.ndim != 3 or min(volume.shape) < 1:
        raise AnchorUnsupported(f"{setup.encoder}: expected a non-empty 3D volume, got shape {volume.shape}")
    depth = _bit_depth(volume, setup)
    frames = _pad_frames(volume)
    _, h, w = frames.shape
    pix = _pix_fmt(depth, setup.chroma)
    ctx = av.CodecContext.create(setup.encoder, "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, pix
    ctx.time_base, ctx.framerate = Fraction(1, 25), Fraction(25, 1)
    ctx.thread_count = 1
    crf_text = str(int(round(crf))) if setup.chroma else f"{crf:.3f}"
    ctx.options = {**dict(setup.options), "crf": crf_text}
    dtype = np.uint8 if depth == 8 else np.dtype("<u2")
    chroma = np.full((h // 2, w), 1 << (depth - 1), dtype)  # U and V planes of yuv420p, stacked
    packets: list[bytes] = []
    for index, plane in enumerate(frames):
        plane = plane.astype(dtype, copy=False)
        array = np.concatenate([plane, chroma]) if setup.chroma else plane
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=pix)
        frame.pts = index
        packets += [bytes(p) for p in ctx.encode(frame)]
    packets += [bytes(p) for p in ctx.encode(None)]
    return [bytes(ctx.extradata or b""), *packets]


def video_decode(stream: Stream, setup: VideoSetup, shape: tuple[int, int, int], dtype: np.dtype) -> np.ndarray:
    """Decode :func:`video_encode`'s packets back to a (z, y, x) array of ``dtype``."""
    import av

    depth, h, w = shape
    ctx = av.CodecContext.create(setup.decoder, "r")
    ctx.thread_count = 1
    if stream[0]:
        ctx.extradata = stream[0]
    planes: list[np.ndarray] = []

    def take(frames) -> None:
        for frame in frames:
            luma = frame.to_ndarray()  # gray: (h, w); yuv420p: (h * 3 / 2, w), luma first
            planes.append(luma[:h, :w] if luma.ndim == 2 else luma[..., 0][:h, :w])

    for data in stream[1:]:
        take(ctx.decode(av.Packet(data)))
    take(ctx.decode(None))
    if len(planes) != depth:
        raise RuntimeError(f"{setup.decoder}: decoded {len(planes)} frames, expected {depth}")
    return np.stack(planes).astype(dtype)
