"""The per-voxel loops of the predictive coder, plain Python that :mod:`.loops` compiles with
numba (and CPython runs unchanged, about 100x slower). Integers only.

Per voxel (raster order, slice by slice; the work layout of :mod:`.taps`):

* activity v = (|W - NW| + |NW - N| + |N - NE| + (|W - WW| + |N - NN|) / 2) * (2**24 // s) / 2**24
  + 2 (|qW| + |qN|)
  + |qNW| + |qNE| (+ 2 |qP| from slice 1 on) with s = 2E + 1 and q the quantised residuals (row
  0 of a slice: |W - WW| / s + 2 |qW|), cut into N_BUCKETS log-spaced buckets;
* prediction: row 0 the left neighbour; other rows the token's linear predictor
  (sum coef * tap + 2**(SHIFT-1)) >> SHIFT plus the bias correction of (class, bucket), clipped to
  [lo, hi];
* q = sign(r) ((|r| + E) // s) of r = x - prediction, reconstruction clip(prediction + q s)
  (so |x - reconstruction| <= E);
* q is coded as: zero? (context: class x bucket), the exponent of |q| in unary (bucket x
  position), its mantissa bits (the first: bucket x exponent; the rest: exponent x position),
  its sign (the signs of qW and qN).

Each token (T x T voxels of a slice) first codes its predictor's index (log2 K binary decisions,
context: the index of the token to the left, or above) and a flag set where all its q are zero.
"""

from __future__ import annotations

import numpy as np

from .range_coder import FLAG, decode_bit, encode_bit
from .taps import (
    MAX_CLASSES, MAX_EXP, N_BUCKETS, N_TAPS, OFF_CLASS, OFF_FLAG, OFF_MANT, OFF_MANT1,
    OFF_SIGN, OFF_UNARY, OFF_ZERO, OPT_BIAS, OPT_CLASS_CTX, OPT_ERROR_CTX, OPT_TOKEN_FLAGS, SHIFT,
)

_HALF = 1 << (SHIFT - 1)
_BIAS_RESET = 64
_BIAS_LIMIT = 1 << 24
#: :func:`run` answers: done, or the stream is damaged in one of these ways.
OK, BAD_CLASS, BAD_RESIDUAL, EXHAUSTED = 0, 1, 2, 3


def _bucket_slow(v):
    if v < 4:
        return v
    b = 0
    while (v >> (b + 1)) > 0:
        b += 1
    return min(2 * b + ((v >> (b - 1)) & 1), N_BUCKETS - 1)


#: :func:`bucket` of 0 .. 511 (the last bucket starts below 512).
_BUCKETS = np.array([_bucket_slow(v) for v in range(512)], np.int64)


def bucket(v):
    """Activity bucket (0 .. N_BUCKETS - 1) of v >= 0: 0, 1, 2, 3, then two per octave."""
    if v < 512:
        return _BUCKETS[v]
    return N_BUCKETS - 1


def _sign(v):
    if v > 0:
        return 1
    if v < 0:
        return -1
    return 0


def encode_residual(rc, buf, probs, q, b, cc, sc):
    """Code q with activity bucket ``b``, class context ``cc`` and sign context ``sc``."""
    if q == 0:
        encode_bit(rc, buf, probs, OFF_ZERO + cc * N_BUCKETS + b, 0)
        return
    encode_bit(rc, buf, probs, OFF_ZERO + cc * N_BUCKETS + b, 1)
    m = q if q > 0 else -q
    e = 0
    while (m >> (e + 1)) > 0:
        e += 1
    for j in range(e):
        encode_bit(rc, buf, probs, OFF_UNARY + b * MAX_EXP + j, 1)
    if e < MAX_EXP - 1:
        encode_bit(rc, buf, probs, OFF_UNARY + b * MAX_EXP + e, 0)
    if e >= 1:
        encode_bit(rc, buf, probs, OFF_MANT1 + b * MAX_EXP + e, (m >> (e - 1)) & 1)
        for k in range(e - 2, -1, -1):
            encode_bit(rc, buf, probs, OFF_MANT + e * MAX_EXP + k, (m >> k) & 1)
    encode_bit(rc, buf, probs, OFF_SIGN + sc, 1 if q < 0 else 0)


def decode_residual(rc, buf, probs, b, cc, sc):
    """The q that :func:`encode_residual` coded with the same contexts."""
    if decode_bit(rc, buf, probs, OFF_ZERO + cc * N_BUCKETS + b) == 0:
        return 0
    e = 0
    while e < MAX_EXP - 1 and decode_bit(rc, buf, probs, OFF_UNARY + b * MAX_EXP + e) == 1:
        e += 1
    m = 1
    if e >= 1:
        m = 2 | decode_bit(rc, buf, probs, OFF_MANT1 + b * MAX_EXP + e)
        for k in range(e - 2, -1, -1):
            m = (m << 1) | decode_bit(rc, buf, probs, OFF_MANT + e * MAX_EXP + k)
    if decode_bit(rc, buf, probs, OFF_SIGN + sc) == 1:
        return -m
    return m


def _start_row(rp, slot, z, y, yp, xp, lo, hi):
    """Set the left margin of row y of slice z, held in work slice ``slot`` (before the row)."""
    sy = yp * xp
    i0 = slot * sy + (y + 3) * xp + 2
    if y > 0:
        value = rp[i0 - xp]
    elif z > 0:
        value = rp[i0 - sy]
    else:
        value = 0 if lo <= 0 <= hi else lo
    rp[i0 - 1] = value
    rp[i0 - 2] = value


def _end_row(rp, slot, y, yp, xp, nx, last_row, front):
    """Set the right margin of row y of work slice ``slot`` (after the row); row 0 also fills
    the three rows on top, the last row the two below, and with ``front`` (the last row of slice
    0 held in slot 1) the slice in front."""
    sy = yp * xp
    row = slot * sy + (y + 3) * xp
    rp[row + nx + 2] = rp[row + nx + 1]
    rp[row + nx + 3] = rp[row + nx + 1]
    if y == 0:
        for k in range(xp):
            rp[row - xp + k] = rp[row + k]
            rp[row - 2 * xp + k] = rp[row + k]
            rp[row - 3 * xp + k] = rp[row + k]
    if last_row:
        for k in range(xp):
            rp[row + xp + k] = rp[row + k]
            rp[row + 2 * xp + k] = rp[row + k]
        if front:
            for k in range(sy):
                rp[k] = rp[sy + k]


def ring_slots(nz):
    """Work slices the decoder's ring holds for a chunk of ``nz`` slices: the slice and, from
    two slices on, the two before it (slice 1 reads slice 0 and its copy in front)."""
    return 1 if nz == 1 else 3


def run(decoding, vol, rp, qp, buckets, classes, coefs, ntaps, offs, shape, token, n_classes, n_2d,
        lo, hi, max_error, options, buf, rc, probs, ring):
    """The closed loop over a chunk of ``shape`` (Z, Y, X).

    Encoding (``decoding`` = 0): ``vol`` (Z*Y*X,) int64 holds the voxels, ``classes`` (Z*TY*TX,)
    int64 the tokens' predictor indices; fills the work layout's reconstruction ``rp`` and
    residuals ``qp`` and the activity ``buckets`` (Z*Y*X,) uint8 (``buf`` is not touched).
    Decoding (1): reads the tokens' indices (into ``classes``), flags and the residuals from
    ``buf`` (uint8) with the decoder state ``rc`` (:func:`.range_coder.decoder_state`) and the
    probability states ``probs`` and writes the voxels into ``vol`` (Z*Y*X,) of the chunk's
    dtype. ``ring`` = 0: ``rp`` and ``qp`` hold the whole work layout; ``ring`` = 1: only
    :func:`ring_slots` work slices (int64, each (Y + 5) * (X + 4)), the slice being coded last,
    shifted down after each slice (every tap reads slices z, z - 1 and z - 2 only). ``coefs`` (K*N_TAPS,) int64,
    ``ntaps`` (K,) int64: N_TAPS_2D or N_TAPS, the taps each predictor uses; ``offs``
    (N_TAPS,) int64 their flat offsets. Returns OK or the kind of damage (EXHAUSTED: the
    decoder read past the end of ``buf``, which a genuine stream never does)."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    yp = ny + 5
    xp = nx + 4
    sy = yp * xp
    ty_n = (ny + token - 1) // token
    tx_n = (nx + token - 1) // token
    s = 2 * max_error + 1
    inv_s = (1 << 24) // s
    max_q = (hi - lo + max_error) // s + 1
    bias_b = np.zeros(MAX_CLASSES * N_BUCKETS, np.int64)
    bias_n = np.ones(MAX_CLASSES * N_BUCKETS, np.int64)
    bias_c = np.zeros(MAX_CLASSES * N_BUCKETS, np.int64)
    use_bias = options & OPT_BIAS
    use_err = options & OPT_ERROR_CTX
    nbits = 0
    while (1 << nbits) < n_classes:
        nbits += 1
    flags = np.zeros(ty_n * tx_n, np.int64)
    for z in range(nz):
        prev = z > 0
        slot = z + 1
        if ring:
            slot = 0 if nz == 1 else min(z + 1, 2)
        for y in range(ny):
            _start_row(rp, slot, z, y, yp, xp, lo, hi)
            ty = y // token
            first_row = y % token == 0
            row0 = y == 0
            row = slot * sy + (y + 3) * xp + 2
            out_row = (z * ny + y) * nx
            for tx in range(tx_n):
                t = ty * tx_n + tx
                ct = (z * ty_n + ty) * tx_n + tx
                if decoding and rc[FLAG]:
                    return EXHAUSTED
                if decoding and first_row:
                    left = 0
                    if tx > 0:
                        left = classes[ct - 1]
                    elif ty > 0:
                        left = classes[ct - tx_n]
                    node = 1
                    for _ in range(nbits):
                        node = 2 * node + decode_bit(rc, buf, probs, OFF_CLASS + left * MAX_CLASSES + node)
                    cls = node - (1 << nbits)
                    if cls >= n_classes or (z == 0 and cls >= n_2d):
                        return BAD_CLASS
                    classes[ct] = cls
                    if options & OPT_TOKEN_FLAGS:
                        fctx = OFF_FLAG
                        if tx > 0 and flags[t - 1]:
                            fctx += 1
                        if ty > 0 and flags[t - tx_n]:
                            fctx += 2
                        flags[t] = decode_bit(rc, buf, probs, fctx)
                cls = classes[ct]
                flag = flags[t]
                nt = ntaps[cls]
                base = cls * N_TAPS
                cc = cls if options & OPT_CLASS_CTX else 0
                x1 = min(nx, (tx + 1) * token)
                for x in range(tx * token, x1):
                    i = row + x
                    # activity bucket
                    w = rp[i - 1]
                    if row0:
                        g = abs(w - rp[i - 2])
                        e = 2 * abs(qp[i - 1])
                    else:
                        n = rp[i - xp]
                        nw = rp[i - xp - 1]
                        g = abs(w - nw) + abs(nw - n) + abs(n - rp[i - xp + 1]) + \
                            ((abs(w - rp[i - 2]) + abs(n - rp[i - 2 * xp])) >> 1)
                        e = 2 * (abs(qp[i - 1]) + abs(qp[i - xp])) + abs(qp[i - xp - 1]) + abs(qp[i - xp + 1])
                    if prev:
                        e += 2 * abs(qp[i - sy])
                    v = (g * inv_s) >> 24
                    if use_err:
                        v += e
                    b = bucket(v)
                    bctx = cls * N_BUCKETS + b
                    if row0:
                        pred = w
                    else:
                        acc = 0
                        for k in range(nt):
                            acc += coefs[base + k] * rp[i + offs[k]]
                        pred = (acc + _HALF) >> SHIFT
                        if use_bias:
                            pred += bias_c[bctx]
                    if pred < lo:
                        pred = lo
                    elif pred > hi:
                        pred = hi
                    if decoding:
                        if flag:
                            q = 0
                        else:
                            sc = 3 * (_sign(qp[i - 1]) + 1) + _sign(qp[i - xp]) + 1
                            q = decode_residual(rc, buf, probs, b, cc, sc)
                            if q > max_q or q < -max_q:
                                return BAD_RESIDUAL
                    else:
                        buckets[out_row + x] = b
                        r = vol[out_row + x] - pred
                        if r >= 0:
                            q = (r + max_error) // s
                        else:
                            q = -((max_error - r) // s)
                    rec = pred + q * s
                    if rec < lo:
                        rec = lo
                    elif rec > hi:
                        rec = hi
                    rp[i] = rec
                    qp[i] = q
                    if decoding:
                        vol[out_row + x] = rec
                    if use_bias and not row0:
                        bb = bias_b[bctx] + q * s
                        nn = bias_n[bctx] + 1
                        if nn == _BIAS_RESET:
                            bb >>= 1
                            nn >>= 1
                        if bb <= -nn:
                            bb += nn
                            if bias_c[bctx] > -_BIAS_LIMIT:
                                bias_c[bctx] -= 1
                            if bb <= -nn:
                                bb = -nn + 1
                        elif bb > 0:
                            bb -= nn
                            if bias_c[bctx] < _BIAS_LIMIT:
                                bias_c[bctx] += 1
                            if bb > 0:
                                bb = 0
                        bias_b[bctx] = bb
                        bias_n[bctx] = nn
            _end_row(rp, slot, y, yp, xp, nx, y == ny - 1, z == 0 and slot == 1)
        if ring and slot == 2:
            for k in range(2 * sy):
                rp[k] = rp[sy + k]
                qp[k] = qp[sy + k]
    if decoding and rc[FLAG]:
        return EXHAUSTED
    return OK


def _token_zero(qp, z, ty, tx, token, ny, nx, yp, xp):
    """Whether every q of token (ty, tx) of slice z is zero."""
    sy = yp * xp
    for y in range(ty * token, min(ny, (ty + 1) * token)):
        row = (z + 1) * sy + (y + 3) * xp + 2
        for x in range(tx * token, min(nx, (tx + 1) * token)):
            if qp[row + x] != 0:
                return 0
    return 1


def encode_stream(qp, buckets, classes, shape, token, n_classes, options, buf, rc, probs):
    """The encoder's second pass: code the tokens' indices and flags and the residuals ``qp``
    that :func:`run` fixed (with its ``buckets``), in the decoder's order, onto ``buf`` with
    the encoder state ``rc``."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    yp = ny + 5
    xp = nx + 4
    sy = yp * xp
    ty_n = (ny + token - 1) // token
    tx_n = (nx + token - 1) // token
    nbits = 0
    while (1 << nbits) < n_classes:
        nbits += 1
    flags = np.zeros(ty_n * tx_n, np.int64)
    for z in range(nz):
        for y in range(ny):
            ty = y // token
            first_row = y % token == 0
            row = (z + 1) * sy + (y + 3) * xp + 2
            brow = (z * ny + y) * nx
            for tx in range(tx_n):
                t = ty * tx_n + tx
                ct = (z * ty_n + ty) * tx_n + tx
                cls = classes[ct]
                if first_row:
                    left = 0
                    if tx > 0:
                        left = classes[ct - 1]
                    elif ty > 0:
                        left = classes[ct - tx_n]
                    node = 1
                    for k in range(nbits - 1, -1, -1):
                        bit = (cls >> k) & 1
                        encode_bit(rc, buf, probs, OFF_CLASS + left * MAX_CLASSES + node, bit)
                        node = 2 * node + bit
                    if options & OPT_TOKEN_FLAGS:
                        fctx = OFF_FLAG
                        if tx > 0 and flags[t - 1]:
                            fctx += 1
                        if ty > 0 and flags[t - tx_n]:
                            fctx += 2
                        flags[t] = _token_zero(qp, z, ty, tx, token, ny, nx, yp, xp)
                        encode_bit(rc, buf, probs, fctx, flags[t])
                if flags[t]:
                    continue
                cc = cls if options & OPT_CLASS_CTX else 0
                for x in range(tx * token, min(nx, (tx + 1) * token)):
                    i = row + x
                    sc = 3 * (_sign(qp[i - 1]) + 1) + _sign(qp[i - xp]) + 1
                    encode_residual(rc, buf, probs, qp[i], int(buckets[brow + x]), cc, sc)
