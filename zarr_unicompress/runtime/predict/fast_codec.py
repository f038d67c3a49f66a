"""Payload version 2 of the predictive coder (v0.6 on): bytes <-> chunk with the per-row
closed loop of :mod:`.row_kernels` and static rANS tables per context (:mod:`.tables`).

Payload (little endian)::

    u32  T       bytes of the deflated frequency tables
    T    bytes   the tables (:mod:`.tables`)
    u32  W       bytes of the rANS section
    W    bytes   4 x u32 lane states, then the u16 words in the decoder's order
    ...          the raw low bits of the large residuals (LSB first), to the end

Decoding work is linear in the declared voxels (one symbol at most per voxel and per token, each
O(1)); a stream whose words or bits run out, or that leaves any unread, is refused.
"""

from __future__ import annotations

import struct

import numpy as np

from ...errors import ChunkCorrupt
from .. import numba_support
from ..entropy import rans_kernels
from . import kernels, row_kernels, tables
from .model import PredictorModel
from .row_kernels import ALPHABET, MAX_RANGE_BITS, N_CTX
from .taps import flat_offsets, padded_shape

#: cost, in approximate bits, of switching predictor between neighbouring tokens (the encoder's choice).
SWITCH_BITS = 12.0
#: the encoder's predictor choice looks at every ROW_STEP-th row of a token.
ROW_STEP = 4
_LEN = struct.Struct("<I")
_STATES = struct.Struct("<4I")
_STATE_LOW = rans_kernels.STATE_LOW


def fits(lo: int, hi: int) -> bool:
    """Whether a chunk of range [lo, hi] may be coded as version 2 (else version 1)."""
    return hi - lo < (1 << MAX_RANGE_BITS)


def _impl():
    compiled = numba_support.loops("predict.fast_loops")  # compiled, or the plain kernels (see numba_support)
    rans = numba_support.loops("entropy.rans_loops")
    return compiled.closed_loop, compiled.choose_rows, compiled.emit, compiled.pack_bits, rans.encode_symbols


def _model_arrays(model: PredictorModel, mid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coefs = model.coefs.astype(np.int64)
    return coefs.astype(np.float64).ravel(), model.ntaps(), mid * coefs.sum(axis=1)


def _ring(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    _, yp, xp = padded_shape(shape)
    n = kernels.ring_slots(shape[0]) * yp * xp
    return np.zeros(n, np.float64), np.zeros(n, np.float64)


def _padded32(vol: np.ndarray) -> np.ndarray:
    """``vol`` (Z, Y, X) in the work layout (:func:`.taps.padded_shape`), margins replicated from
    the edges, as float32 (flat): np.pad(mode="edge") without its generic slowness."""
    nz, ny, nx = vol.shape
    out = np.empty(padded_shape(vol.shape), np.float32)
    out[1:, 3:ny + 3, 2:nx + 2] = vol
    out[1:, 3:ny + 3, :2] = out[1:, 3:ny + 3, 2:3]
    out[1:, 3:ny + 3, nx + 2:] = out[1:, 3:ny + 3, nx + 1:nx + 2]
    out[1:, :3] = out[1:, 3:4]
    out[1:, ny + 3:] = out[1:, ny + 2:ny + 3]
    out[0] = out[1]
    return out.ravel()


def encode_payload2(vol: np.ndarray, max_error: int, lo: int, hi: int, model: PredictorModel,
                    budget: int) -> bytes | None:
    """The version-2 payload of ``vol`` (Z, Y, X) integers within [lo, hi] (its min and max,
    :func:`fits`), or None where it would take ``budget`` bytes or more."""
    closed_loop, choose_rows, emit, pack_bits, encode_symbols = _impl()
    vol = np.ascontiguousarray(vol, dtype=np.int64)
    shape = np.array(vol.shape, np.int64)
    nz, ny, nx = vol.shape
    token = model.token
    ty_n, tx_n = -(-ny // token), -(-nx // token)
    mid = (lo + hi) // 2
    coefs, ntaps, mid_c = _model_arrays(model, mid)
    offs = flat_offsets(vol.shape)
    classes = np.zeros(nz * ty_n * tx_n, np.int64)
    vp = _padded32(vol)
    choose_rows(vp, coefs.astype(np.float32), ntaps, offs, shape, token, model.n_classes, model.classes_2d, max_error,
                SWITCH_BITS, ROW_STEP, classes, np.zeros(nx, np.float32), np.zeros(tx_n * model.n_classes, np.float64))
    del vp
    rp, qp = _ring(vol.shape)
    qv = np.zeros(vol.size, np.int64)
    bv = np.zeros(vol.size, np.uint8)
    scratch = [np.zeros(nx, np.float64) for _ in range(3)]
    none8, none64 = np.zeros(1, np.uint8), np.zeros(1, np.int64)
    closed_loop(0, vol.ravel(), qv, bv, rp, qp, classes, none64, coefs, ntaps, mid_c, offs, shape, token,
                model.n_classes, model.classes_2d, lo, hi, mid, max_error, np.zeros(4, np.int64),
                np.zeros(row_kernels.WORD_PAD, np.uint16), np.zeros(3, np.int64), none8, none64, none64, none8,
                np.zeros(4, np.int64), *scratch)
    del rp, qp
    n_tok = len(classes)
    codes = np.empty(vol.size + n_tok, np.int64)
    raw_value = np.empty(vol.size, np.int64)
    raw_bits = np.empty(vol.size, np.int64)
    counts = np.zeros(N_CTX * ALPHABET, np.int64)
    n_codes, n_raw = emit(qv, bv, classes, shape, token, model.n_classes, codes, raw_value, raw_bits, counts,
                          np.zeros(n_tok, np.int64))
    del qv, bv
    raw_bytes = np.zeros(int(raw_bits[:n_raw].sum()) // 8 + 8, np.uint8)
    raw = raw_bytes[:pack_bits(raw_value, raw_bits, n_raw, raw_bytes)].tobytes()
    table_bytes, freq = tables.write_tables(counts)
    if len(table_bytes) + len(raw) + 24 >= budget:
        return None
    states = np.full(4, _STATE_LOW, np.int64)
    words = np.empty(n_codes + 4, np.uint16)
    n_words = encode_symbols(codes[:n_codes], 0, *tables.encoder_tables(freq), states, words, 0)
    rans = _STATES.pack(*(int(s) for s in states)) + words[:n_words][::-1].astype("<u2").tobytes()
    payload = b"".join((_LEN.pack(len(table_bytes)), table_bytes, _LEN.pack(len(rans)), rans, raw))
    return payload if len(payload) < budget else None


def _split(payload: bytes) -> tuple[bytes, bytes, bytes]:
    at = 0
    parts = []
    for _ in range(2):
        if len(payload) < at + _LEN.size:
            raise ChunkCorrupt("predictive payload is truncated inside its section lengths; the chunk is damaged")
        (n,) = _LEN.unpack_from(payload, at)
        at += _LEN.size
        if len(payload) < at + n:
            raise ChunkCorrupt("predictive payload is shorter than its sections; the chunk is damaged")
        parts.append(payload[at:at + n])
        at += n
    return parts[0], parts[1], payload[at:]


def decode_payload2(payload: bytes, shape: tuple[int, int, int], lo: int, hi: int, max_error: int,
                    model: PredictorModel, dtype: np.dtype) -> np.ndarray:
    """The voxels (Z, Y, X) in ``dtype`` of :func:`encode_payload2`'s bytes; ChunkCorrupt where
    they are damaged. Working memory besides the output: a ring of 3 work slices (two float64
    arrays of (Y + 5) * (X + 4) each per slice), the slot tables (N_CTX * 2**14 * 12 bytes) and 8
    bytes per token."""
    if not fits(lo, hi):
        raise ChunkCorrupt(f"predictive payload version 2 declares the range [{lo}, {hi}], wider than it codes; "
                           "the chunk is damaged")
    table_bytes, rans, raw = _split(payload)
    if len(rans) < _STATES.size or (len(rans) - _STATES.size) % 2:
        raise ChunkCorrupt(f"predictive rANS section of {len(rans)} bytes is not 16 bytes of states plus words; "
                           "the chunk is damaged")
    states = np.array(_STATES.unpack_from(rans, 0), np.int64)
    if not ((states >= _STATE_LOW) & (states < _STATE_LOW << 16)).all():
        raise ChunkCorrupt("predictive rANS section starts with an impossible coder state; the chunk is damaged")
    dec_tables = tables.decoder_tables(tables.read_tables(table_bytes))
    words = np.zeros((len(rans) - _STATES.size) // 2 + row_kernels.WORD_PAD, np.uint16)
    words[:len(words) - row_kernels.WORD_PAD] = np.frombuffer(rans, "<u2", offset=_STATES.size)
    raw_arr = np.frombuffer(raw, np.uint8)
    closed_loop = _impl()[0]
    nz, ny, nx = shape
    token = model.token
    mid = (lo + hi) // 2
    coefs, ntaps, mid_c = _model_arrays(model, mid)
    n_tok = nz * (-(-ny // token)) * (-(-nx // token))
    rp, qp = _ring(shape)
    out = np.empty(nz * ny * nx, np.dtype(dtype).newbyteorder("="))
    ws, rs = np.zeros(3, np.int64), np.zeros(4, np.int64)
    status = closed_loop(1, out, np.zeros(1, np.int64), np.zeros(1, np.uint8), rp, qp, np.zeros(n_tok, np.int64),
                         np.zeros((-(-ny // token)) * (-(-nx // token)), np.int64), coefs, ntaps, mid_c,
                         flat_offsets(shape), np.array(shape, np.int64), token, model.n_classes, model.classes_2d,
                         lo, hi, mid, max_error, states, words, ws, *dec_tables, raw_arr, rs,
                         *(np.zeros(nx, np.float64) for _ in range(3)))
    if status == row_kernels.EXHAUSTED:
        raise ChunkCorrupt(f"predictive stream ends before the chunk's {out.size} voxels are decoded; "
                           "the chunk is damaged")
    if status != row_kernels.OK:
        what = "a bad predictor index" if status == row_kernels.BAD_CLASS else "a bad residual"
        raise ChunkCorrupt(f"predictive stream is damaged ({what}); the chunk cannot be decoded")
    if ws[1] != len(words) - row_kernels.WORD_PAD or rs[2] != len(raw_arr) or not (states == _STATE_LOW).all():
        raise ChunkCorrupt("predictive stream has data left after its last voxel or its coder does not end where "
                           "it began; the chunk is damaged")
    return out.reshape(shape)
