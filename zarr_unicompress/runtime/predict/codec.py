"""Bytes <-> chunk for the predictive error-bounded coder: :func:`encode_payload` /
:func:`decode_payload` (the range coder's bytes, which :class:`..coders.predictive.PredictiveCoder`
puts in a UniCompress chunk), and a standalone stream of them (:func:`encode_chunk` /
:func:`decode_chunk`, for benchmarks and tests).

Stream: ``MAGIC`` (2 bytes), version (uint8: 1 the payload of :func:`encode_payload`, 2 that of
:func:`.fast_codec.encode_payload2`, whose options are 0), mode (uint8: 0 raw, 1 predictive), options
(uint8, :mod:`.taps` OPT_*), ndim (uint8), dtype (3 ASCII bytes of numpy's ``dtype.str``), the
shape (ndim x uint32), max_error (uint32), lo and hi (int64: the chunk's range, the clip of the
reconstruction), the first 4 bytes of the model's sha256, then the payload: the range coder's
bytes (mode 1) or the raw little-endian voxels (mode 0). A chunk whose predictive bytes would
not be smaller than its raw bytes is stored raw (lossless): never more than raw plus the header.
"""

from __future__ import annotations

import struct

import numpy as np

from ...errors import ChunkCorrupt, ModelMismatch, UnsupportedInput
from .. import numba_support
from . import fast_codec, kernels, range_coder
from .model import PredictorModel
from .taps import ALL_OPTIONS, DEFAULT_OPTIONS, MAX_CLASSES, N_CONTEXTS, N_TAPS, SHIFT, flat_offsets, padded_shape

MAGIC = b"UP"
VERSIONS = (1, 2)
RAW, PREDICTIVE = 0, 1
DTYPES = ("|u1", "|i1", "<u2", "<i2", "<u4", "<i4")
_FIXED = struct.Struct("<2sBBBB3s")
_TAIL = struct.Struct("<Iqq4s")
#: largest voxel count of a chunk (the encoder's work arrays take about 40 bytes per voxel; the
#: decoder's the output plus a ring of at most 3 work slices, 48 bytes per padded voxel of a slice).
MAX_VOXELS = 1 << 27
#: cost, in approximate bits, of switching predictor between neighbouring tokens (the encoder's choice).
SWITCH_BITS = 12.0
#: the encoder's predictor choice counts every SUBSAMPLE-th voxel of a token (checkerboard-like).
SUBSAMPLE = 2


def _impl():
    compiled = numba_support.loops("predict.loops")  # compiled, or the plain kernels (see numba_support)
    return compiled.run, compiled.encode_stream, compiled.choose_classes, compiled.finish


def encode_chunk(chunk: np.ndarray, max_error: int, model: PredictorModel, options: int | None = None) -> bytes:
    """The stream of ``chunk`` (up to 3 dimensions, an integer dtype of up to 32 bits) such
    that every decoded voxel is within ``max_error`` (intensity units, >= 0) of the original:
    payload version 2 where ``options`` is None and the chunk's range allows
    (:func:`.fast_codec.fits`), else version 1 with ``options`` (DEFAULT_OPTIONS by default)."""
    arr = np.asarray(chunk)
    key = arr.dtype.newbyteorder("<").str if arr.dtype.byteorder in "=>" else arr.dtype.str
    if key not in DTYPES:
        raise UnsupportedInput(f"the predictive coder takes integer dtypes of up to 32 bits, got {arr.dtype}")
    if not 1 <= arr.ndim <= 3 or arr.size == 0 or arr.size > MAX_VOXELS:
        raise UnsupportedInput(f"the predictive coder takes non-empty chunks of 1 to 3 dimensions and at most "
                               f"{MAX_VOXELS} voxels, got shape {arr.shape}")
    if not (isinstance(max_error, (int, np.integer)) and 0 <= max_error < 2**31):
        raise UnsupportedInput(f"max_error must be an integer in [0, 2**31), got {max_error!r}")
    if options is not None and not 0 <= options <= ALL_OPTIONS:
        raise UnsupportedInput(f"options must be a mask of the OPT_* bits, got {options!r}")
    shape3 = (1,) * (3 - arr.ndim) + arr.shape
    vol = arr.reshape(shape3).astype(np.int64)
    lo, hi = int(vol.min()), int(vol.max())
    version = 2 if options is None and fast_codec.fits(lo, hi) else 1
    options = 0 if version == 2 else DEFAULT_OPTIONS if options is None else options
    head = _FIXED.pack(MAGIC, version, PREDICTIVE, options, arr.ndim, key.encode()) + \
        struct.pack(f"<{arr.ndim}I", *arr.shape) + _TAIL.pack(int(max_error), lo, hi, bytes.fromhex(model.digest[:8]))
    raw = arr.astype(key).tobytes()
    if not payload_affordable(shape3, arr.dtype.itemsize, version):
        payload = None
    elif version == 2:
        payload = fast_codec.encode_payload2(vol, int(max_error), lo, hi, model, len(raw))
    else:
        payload = encode_payload(vol, int(max_error), lo, hi, model, options, len(raw))
    if payload is None:
        return head[:3] + bytes([RAW]) + head[4:] + raw
    return head + payload


#: the decoder's work memory may be at most this many bytes per byte of declared output, plus
#: WORK_ALLOWANCE: thin chunks (one or two voxels across, a long row) whose padded work slices
#: would cost more are stored raw, and a stream that declares such a shape for a predictive
#: payload is refused before anything is allocated.
WORK_PER_OUTPUT_BYTE = 16
WORK_ALLOWANCE = 64 << 20


def decoder_work_bytes(shape: tuple[int, int, int], version: int = 2) -> int:
    """Bytes of the decoder's work memory for a chunk of ``shape`` (Z, Y, X) voxels: its ring
    (two arrays of 8-byte values per padded slice) and, for payload version 2, its three scratch
    rows of 8-byte values (counted as 4 rows of X + 4) and its per-predictor tap lists."""
    _, yp, xp = padded_shape(shape)
    rows = 32 * xp + 24 * MAX_CLASSES * N_TAPS if version == 2 else 0
    return 16 * kernels.ring_slots(shape[0]) * yp * xp + rows


def payload_affordable(shape: tuple[int, int, int], itemsize: int, version: int = 2) -> bool:
    """Whether a chunk of ``shape`` voxels of ``itemsize`` bytes may hold a predictive payload of
    ``version``: its decoder work stays within WORK_PER_OUTPUT_BYTE x its bytes + WORK_ALLOWANCE."""
    out_bytes = int(np.prod(shape, dtype=np.int64)) * itemsize
    return decoder_work_bytes(shape, version) <= WORK_PER_OUTPUT_BYTE * out_bytes + WORK_ALLOWANCE


def encode_payload(vol: np.ndarray, max_error: int, lo: int, hi: int, model: PredictorModel, options: int,
                   budget: int) -> bytes | None:
    """The range coder's bytes of ``vol`` (Z, Y, X) integers within [lo, hi] (its min and max),
    or None where they would take ``budget`` bytes or more."""
    run, encode_stream, choose_classes, finish = _impl()
    vol = np.ascontiguousarray(vol, dtype=np.int64)
    shape = np.array(vol.shape, np.int64)
    nz, ny, nx = vol.shape
    token = model.token
    n_tok = nz * (-(-ny // token)) * (-(-nx // token))
    coefs = model.coefs.astype(np.int64).ravel()
    ntaps, offs = model.ntaps(), flat_offsets(vol.shape)
    vp = np.pad(vol, ((1, 0), (3, 2), (2, 2)), mode="edge").ravel()
    classes = np.zeros(n_tok, np.int64)
    choose_classes(vp, coefs / float(1 << SHIFT), ntaps, offs, shape, token, model.n_classes, model.classes_2d,
                   max_error, SWITCH_BITS, SUBSAMPLE, classes)
    rp = np.zeros(int(np.prod(padded_shape(vol.shape))), np.int64)
    qp = np.zeros_like(rp)
    buckets = np.zeros(vol.size, np.uint8)
    buf = np.zeros(budget + 64, np.uint8)
    rc = range_coder.encoder_state()
    probs = range_coder.new_probs(N_CONTEXTS)
    run(0, vol.ravel(), rp, qp, buckets, classes, coefs, ntaps, offs, shape, token, model.n_classes,
        model.classes_2d, lo, hi, max_error, options, buf, rc, probs, 0)
    encode_stream(qp, buckets, classes, shape, token, model.n_classes, options, buf, rc, probs)
    n = finish(rc, buf)
    if rc[range_coder.FLAG] or n >= budget:
        return None
    return buf[:n].tobytes()


def decode_payload(payload: bytes, shape: tuple[int, int, int], lo: int, hi: int, max_error: int,
                   model: PredictorModel, options: int, dtype: np.dtype | None = None) -> np.ndarray:
    """The voxels (Z, Y, X) of :func:`encode_payload`'s bytes, in ``dtype`` (native byte order;
    int64 by default, which must hold [lo, hi]); ChunkCorrupt where they are damaged (a bad index
    or residual, or too few bytes: refused as soon as the decoder reads past their end).

    Working memory besides the output: a ring of :func:`.kernels.ring_slots` work slices (two
    int64 arrays of (Y + 5) * (X + 4) each per slice) and the tokens' indices (8 bytes per token)."""
    run = _impl()[0]
    coefs = model.coefs.astype(np.int64).ravel()
    token = model.token
    n_tok = shape[0] * (-(-shape[1] // token)) * (-(-shape[2] // token))
    _, yp, xp = padded_shape(shape)
    rp = np.zeros(kernels.ring_slots(shape[0]) * yp * xp, np.int64)
    qp = np.zeros_like(rp)
    out_dtype = np.dtype(np.int64 if dtype is None else dtype).newbyteorder("=")
    out = np.empty(int(np.prod(shape, dtype=np.int64)), out_dtype)
    buf = np.frombuffer(payload, np.uint8)
    rc = range_coder.decoder_state(buf, 0)
    probs = range_coder.new_probs(N_CONTEXTS)
    classes = np.zeros(n_tok, np.int64)
    status = run(1, out, rp, qp, np.zeros(1, np.uint8), classes, coefs, model.ntaps(), flat_offsets(shape),
                 np.array(shape, np.int64), token, model.n_classes, model.classes_2d, lo, hi, max_error, options,
                 buf, rc, probs, 1)
    if status == kernels.EXHAUSTED or rc[range_coder.FLAG]:
        raise ChunkCorrupt(f"predictive stream ends before the chunk's {out.size} voxels are decoded; "
                           "the chunk is damaged")
    if status != kernels.OK:
        what = "a bad predictor index" if status == kernels.BAD_CLASS else "a bad residual"
        raise ChunkCorrupt(f"predictive stream is damaged ({what}); the chunk cannot be decoded")
    return out.reshape(shape)


def read_header(data: bytes) -> tuple[int, int, int, np.dtype, tuple[int, ...], int, int, int, bytes, int]:
    """(version, mode, options, dtype, shape, max_error, lo, hi, model digest prefix, payload
    offset) of a stream; ChunkCorrupt where the header is malformed."""
    if len(data) < _FIXED.size:
        raise ChunkCorrupt(f"predictive stream of {len(data)} bytes is shorter than its header")
    magic, version, mode, options, ndim, key = _FIXED.unpack_from(data)
    if magic != MAGIC or version not in VERSIONS:
        raise ChunkCorrupt(f"not a predictive stream of version {VERSIONS} (magic {magic!r}, version {version})")
    if mode not in (RAW, PREDICTIVE) or not 0 <= options <= ALL_OPTIONS or not 1 <= ndim <= 3 or \
            (version == 2 and options):
        raise ChunkCorrupt(f"predictive stream header: mode {mode}, options {options}, ndim {ndim} out of range")
    dtype_key = key.decode("ascii", "replace")
    if dtype_key not in DTYPES:
        raise ChunkCorrupt(f"predictive stream header: dtype {dtype_key!r} is not one this coder writes")
    at = _FIXED.size
    if len(data) < at + 4 * ndim + _TAIL.size:
        raise ChunkCorrupt("predictive stream is truncated inside its header")
    shape = struct.unpack_from(f"<{ndim}I", data, at)
    at += 4 * ndim
    max_error, lo, hi, prefix = _TAIL.unpack_from(data, at)
    at += _TAIL.size
    dtype = np.dtype(dtype_key)
    info = np.iinfo(dtype)
    size = int(np.prod(shape, dtype=np.int64))
    if size == 0 or size > MAX_VOXELS or max_error >= 2**31 or not info.min <= lo <= hi <= info.max:
        raise ChunkCorrupt(f"predictive stream header: shape {shape}, max_error {max_error}, range [{lo}, {hi}] "
                           f"invalid for {dtype}")
    return version, mode, options, dtype, tuple(shape), max_error, lo, hi, prefix, at


def decode_chunk(data: bytes, model: PredictorModel | None) -> np.ndarray:
    """The chunk of a stream of :func:`encode_chunk` (its shape and dtype). ``model`` may be None
    for raw streams only."""
    data = bytes(data)
    version, mode, options, dtype, shape, max_error, lo, hi, prefix, at = read_header(data)
    size = int(np.prod(shape))
    if mode == RAW:
        if len(data) - at != size * dtype.itemsize:
            raise ChunkCorrupt(f"raw predictive stream holds {len(data) - at} bytes, expected {size * dtype.itemsize}")
        return np.frombuffer(data, dtype, size, at).reshape(shape).astype(dtype.newbyteorder("="))
    if model is None or bytes.fromhex(model.digest[:8]) != prefix:
        raise ModelMismatch("predictive chunk was encoded with another predictor model than the one given; "
                            "decode it with the array's own model")
    shape3 = (1,) * (3 - len(shape)) + shape
    if not payload_affordable(shape3, dtype.itemsize, version):
        raise ChunkCorrupt(f"predictive stream declares shape {shape}, whose decoder work memory exceeds its "
                           "bounds; the stream is damaged")
    if version == 2:
        out = fast_codec.decode_payload2(data[at:], shape3, lo, hi, max_error, model, dtype)
    else:
        out = decode_payload(data[at:], shape3, lo, hi, max_error, model, options, dtype)
    return out.reshape(shape)
