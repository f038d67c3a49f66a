"""The closed loop of the predictive coder's payload version 2 (:mod:`.fast_codec`), plain
Python that :mod:`.fast_loops` compiles with numba (and CPython runs unchanged, slowly).

Why a second loop: version 1 (:mod:`.kernels`) did the 36-tap prediction voxel by voxel and
coded 5-10 adaptive binary decisions per voxel (about 8 MB/s decode). Here, per row of a slice:

* the 33 taps that do not lie in the row (rows above, the two previous slices) are summed per
  token before its voxels (:func:`token_ext`, four taps a pass over the token's voxels, loops
  that the compiler vectorises), and the activity context per row (:func:`row_ctx`): it reads
  only the rows above and the previous slice (never W: the decoder's symbol lookups then do not wait for the previous voxel); only
  the taps W, WW, WWW are summed voxel by voxel (int64); row 0 of a slice is predicted by W with
  the context |W - WW| / s + 2 |qW| (+ 2 |qP|) (:func:`_row0`);
* each voxel's quantised residual q is one symbol (zigzag u = 2q or -2q - 1; u < DIRECT
  directly, larger u as a token of its exponent and top MSB bits plus raw low bits, in a
  separate bit stream) coded by rANS with static integer frequencies per activity bucket
  (tables in the stream, :mod:`.tables`); a token's predictor index and zero flag are one
  symbol of context TOKEN_CTX, decoded at the start of the token's first row.

Exactness: the work arrays hold reconstructed voxels minus ``mid`` (the chunk's mid-range) as
float64, coefficients are integers held as float64: every product and partial sum is an integer
below 2**53 in magnitude where hi - lo < 2**MAX_RANGE_BITS (|voxel - mid| < 2**27, sum |coef|
<= 36 * 2**20 < 2**26), so they are exact and the sums do not depend on their order: the same
integers on every IEEE machine as int64 arithmetic would give (chunks of a wider range use
payload version 1). Everything after the sums (rounding, clipping, quantising, contexts) is
integer arithmetic.
"""

from __future__ import annotations

import numpy as np

from .kernels import _end_row, bucket
from .taps import N_BUCKETS, N_TAPS, SHIFT

#: zigzag values below DIRECT are their own token; larger ones: DIRECT + 4 (exponent - 5) + the
#: MSB bits below the leading one, then exponent - MSB raw bits.
DIRECT = 32
MSB = 2
_DIRECT_EXP = 5
#: tokens of one context are codes ctx * ALPHABET + token; contexts: the activity buckets, then
#: the tokens' (predictor index, zero flag) symbols.
ALPHABET = 128
TOKEN_CTX = N_BUCKETS
N_CTX = N_BUCKETS + 1
#: widest range hi - lo (exclusive, in bits) of a version-2 chunk (see the exactness note).
MAX_RANGE_BITS = 27
#: the in-row taps (W, WW, WWW) by index in :data:`.taps.TAP_OFFSETS`.
TAP_W, TAP_WW, TAP_WWW = 0, 4, 10
_HALF = 1 << (SHIFT - 1)
_PREC = 14
_MASK = (1 << _PREC) - 1
_STATE_LOW = 1 << 16
_BIN_SHIFT = 4
#: zero words after the rANS words (the decoder reads a word per symbol, whether or not it moves).
WORD_PAD = 64
#: :func:`closed_loop` answers.
OK, BAD_CLASS, BAD_RESIDUAL, EXHAUSTED = 0, 1, 2, 3
#: the type of array indices in the vectorised loops: int here, numpy.uint64 where
#: :mod:`.fast_loops` compiles them.
_unsigned = int


def zigzag_token(u):
    """(token, raw bit count) of zigzag value u >= 0."""
    if u < DIRECT:
        return u, 0
    e = 0
    while (u >> (e + 1)) > 0:
        e += 1
    return DIRECT + ((e - _DIRECT_EXP) << MSB) + ((u >> (e - MSB)) & ((1 << MSB) - 1)), e - MSB


def left_class(classes, ct, tx, ty, tx_n):
    """The predictor index a token's own is coded against (and the encoder's default): that of
    the token to its left, else the one above, else 0; ``ct`` its index in ``classes`` (Z*TY*TX,)
    int64, (``ty``, ``tx``) its place in a slice of ``tx_n`` tokens a row."""
    if tx > 0:
        return classes[ct - 1]
    if ty > 0:
        return classes[ct - tx_n]
    return 0


def read_bits(raw, rs, n):
    """``n`` (0 .. 26) bits from the bit stream ``raw`` (uint8, LSB first) with reader state
    ``rs`` (int64: bits, count, position, flag set where it ran out)."""
    while rs[1] < n:
        pos = rs[2]
        byte = 0
        if pos < len(raw):
            byte = int(raw[pos])
        else:
            rs[3] = 1
        rs[0] |= byte << rs[1]
        rs[1] += 8
        rs[2] = pos + 1
    value = rs[0] & ((1 << n) - 1)
    rs[0] >>= n
    rs[1] -= n
    return value


def decode_symbol(st, words, ws, bin_tok, freq_t, start_t, ctx):
    """The next token of context ``ctx`` from the rANS lanes ``st`` (4,) int64 (symbol i on lane
    i % 4) reading ``words`` (uint16) with ``ws`` (int64: symbols so far, word position, flag
    set where the words ran out), with the tables of :func:`.tables.decoder_tables`."""
    lane = ws[0] & 3
    x = st[lane]
    slot = x & _MASK
    base = ctx * (ALPHABET + 1)
    tok = int(bin_tok[(ctx << (_PREC - _BIN_SHIFT)) + (slot >> _BIN_SHIFT)])
    while slot >= start_t[base + tok + 1]:
        tok += 1
    x = freq_t[base + tok] * (x >> _PREC) + slot - start_t[base + tok]
    if x < _STATE_LOW:
        pos = ws[1]
        word = 0
        if pos < len(words):
            word = int(words[pos])
        else:
            ws[2] = 1
        x = (x << 16) | word
        ws[1] = pos + 1
    st[lane] = x
    ws[0] += 1
    return tok


def class_taps(coefs, ntaps, offs, tap_offs, tap_coefs, n_taps):
    """Per predictor k, its taps outside the row with a nonzero coefficient: ``tap_offs`` /
    ``tap_coefs`` (K*N_TAPS,) int64 / float64 (row k), ``n_taps`` (K,) int64 how many, padded
    to a multiple of 4 with zero coefficients (read four at a time by :func:`token_ext`)."""
    for k in range(len(ntaps)):
        n = 0
        for t in range(ntaps[k]):
            c = coefs[k * N_TAPS + t]
            if t == TAP_W or t == TAP_WW or t == TAP_WWW or c == 0.0:
                continue
            tap_offs[k * N_TAPS + n] = offs[t]
            tap_coefs[k * N_TAPS + n] = c
            n += 1
        while n % 4:
            tap_offs[k * N_TAPS + n] = 0
            tap_coefs[k * N_TAPS + n] = 0.0
            n += 1
        n_taps[k] = n


def row_ctx(rp, qp, row, xp, sy, prev, nx, gext, eext):
    """For the voxels of the row starting at ``row`` in the work slices (``rp`` reconstruction -
    mid, ``qp`` residuals, float64): ``gext`` = |NW - N| + |N - NE| + |N - NN| / 2, ``eext`` = 2
    |qN| + |qNW| + |qNE| (+ 2 |qP| where ``prev``). Indices are ``_unsigned`` (numba: uint64, no
    negative-index tests: the loops vectorise)."""
    un = _unsigned(nx)
    up = _unsigned(row - xp)
    one = _unsigned(1)
    uxp = _unsigned(xp)
    for x in range(un):  # one array written per loop: few alias checks, so that they vectorise
        i = up + x
        n = rp[i]
        gext[x] = abs(rp[i - one] - n) + abs(n - rp[i + one]) + 0.5 * abs(n - rp[i - uxp])
    for x in range(un):
        i = up + x
        eext[x] = 2.0 * abs(qp[i]) + abs(qp[i - one]) + abs(qp[i + one])
    if prev:
        back = _unsigned(row - sy)
        for x in range(un):
            eext[x] += 2.0 * abs(qp[back + x])


def token_ext(rp, row, x0, x1, k, tap_offs, tap_coefs, n_taps, ext):
    """``ext[x0:x1]`` = the sum of predictor k's taps outside the row (:func:`class_taps`) for
    the voxels x0 .. x1 - 1 of the row starting at ``row``: four taps a pass over the token's
    voxels (two arrays a loop: the compiler vectorises it)."""
    u0 = _unsigned(x0)
    u1 = _unsigned(x1)
    for x in range(u0, u1):
        ext[x] = 0.0
    base = k * N_TAPS
    for t in range(0, n_taps[k], 4):
        c0 = tap_coefs[base + t]
        c1 = tap_coefs[base + t + 1]
        c2 = tap_coefs[base + t + 2]
        c3 = tap_coefs[base + t + 3]
        o0 = _unsigned(row + tap_offs[base + t])
        o1 = _unsigned(row + tap_offs[base + t + 1])
        o2 = _unsigned(row + tap_offs[base + t + 2])
        o3 = _unsigned(row + tap_offs[base + t + 3])
        for x in range(u0, u1):
            ext[x] += (c0 * rp[o0 + x] + c1 * rp[o1 + x]) + (c2 * rp[o2 + x] + c3 * rp[o3 + x])


def _start_row(rp, slot, z, y, yp, xp, first):
    """Set the left margin of row y of slice z in work slice ``slot`` (before the row):
    the voxel above the row's first, or in the previous slice, or ``first``."""
    sy = yp * xp
    i0 = slot * sy + (y + 3) * xp + 2
    if y > 0:
        value = rp[i0 - xp]
    elif z > 0:
        value = rp[i0 - sy]
    else:
        value = first
    rp[i0 - 1] = value
    rp[i0 - 2] = value


def _quantise(r, max_error, s, inv_f):
    """q = sign(r) ((|r| + E) // s), the division by a float reciprocal corrected to the exact
    quotient (|r| + E < 2**50)."""
    if s == 1:
        return r
    num = r + max_error if r >= 0 else max_error - r
    q = int(num * inv_f)
    if q * s > num:
        q -= 1
    elif (q + 1) * s <= num:
        q += 1
    return q if r >= 0 else -q


def _row0(decoding, vol, qv, bv, rp, qp, i0, n, out0, sy, prev, flag, lo, hi, mid, max_error, max_q, st, words, ws,
          bin_tok, freq_t, start_t, raw, rs):
    """Voxels i0 .. i0 + n - 1 of row 0 of a slice (one token's): predicted by W, context
    |W - WW| / s + 2 |qW| (+ 2 |qP|); see :func:`closed_loop`."""
    s = 2 * max_error + 1
    inv_s = (1 << 24) // s
    for j in range(n):
        i = i0 + j
        w = rp[i - 1]
        e = 2.0 * abs(qp[i - 1])
        if prev:
            e += 2.0 * abs(qp[i - sy])
        b = bucket(((int(abs(w - rp[i - 2])) * inv_s) >> 24) + int(e))
        pred = int(w) + mid
        if decoding:
            q = 0
            if not flag:
                u = decode_symbol(st, words, ws, bin_tok, freq_t, start_t, b)
                if u >= DIRECT:
                    k = u - DIRECT
                    nb = _DIRECT_EXP + (k >> MSB) - MSB
                    u = (((1 << MSB) | (k & ((1 << MSB) - 1))) << nb) | read_bits(raw, rs, nb)
                q = -(u >> 1) - 1 if u & 1 else u >> 1
                if q > max_q or q < -max_q:
                    return BAD_RESIDUAL
        else:
            bv[out0 + j] = b
            q = _quantise(vol[out0 + j] - pred, max_error, s, 1.0 / s)
            qv[out0 + j] = q
        rec = pred + q * s
        if rec < lo:
            rec = lo
        elif rec > hi:
            rec = hi
        rp[i] = float(rec - mid)
        qp[i] = float(q)
        if decoding:
            vol[out0 + j] = rec
    return OK


def closed_loop(decoding, vol, qv, bv, rp, qp, classes, flags, coefs, ntaps, mid_c, offs, shape, token,
                n_classes, n_2d, lo, hi, mid, max_error, st, words, ws, bin_tok, freq_t, start_t, raw, rs,
                ext, gext, eext):
    """The closed loop over a chunk of ``shape`` (Z, Y, X), slice by slice in raster order, in
    a ring of :func:`.kernels.ring_slots` work slices ``rp`` / ``qp`` (float64, each (Y + 5) *
    (X + 4)); ``ext``, ``gext``, ``eext`` (X,) float64 scratch rows.

    Encoding (``decoding`` = 0): ``vol`` (Z*Y*X,) int64 the voxels, ``classes`` (Z*TY*TX,) int64
    the tokens' predictors; writes each voxel's q into ``qv`` (Z*Y*X,) int64 and its activity
    bucket into ``bv`` (Z*Y*X,) uint8. Decoding (1): reads the tokens' symbols (into
    ``classes`` and ``flags`` (TY*TX,) int64, the zero flags of the slice) and the voxels'
    tokens with :func:`decode_symbol` (``st``, ``words``, ``ws``, ``bin_tok``, ``freq_t``, ``start_t``)
    and raw bits with :func:`read_bits` (``raw``, ``rs``), and writes the voxels into ``vol``
    (Z*Y*X,) of the chunk's dtype. ``coefs`` (K*N_TAPS,) float64 integer coefficients, ``ntaps``
    (K,) int64, ``mid_c`` (K,) int64 = mid * the sum of each predictor's coefficients, ``offs``
    (N_TAPS,) int64 flat tap offsets. Returns OK or the kind of damage."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    yp = ny + 5
    xp = nx + 4
    sy = yp * xp
    ty_n = (ny + token - 1) // token
    tx_n = (nx + token - 1) // token
    s = 2 * max_error + 1
    inv_s = (1 << 24) // s
    max_q = (hi - lo + max_error) // s + 1
    k1 = n_classes + 1
    inv_f = 1.0 / s
    n_words = len(words) - WORD_PAD
    tap_offs = np.zeros(n_classes * N_TAPS, np.int64)
    tap_coefs = np.zeros(n_classes * N_TAPS, np.float64)
    n_taps = np.zeros(n_classes, np.int64)
    class_taps(coefs, ntaps, offs, tap_offs, tap_coefs, n_taps)
    first = float(0 - mid) if lo <= 0 <= hi else float(lo - mid)
    for z in range(nz):
        prev = z > 0
        slot = 0 if nz == 1 else min(z + 1, 2)
        allowed = n_2d if z == 0 else n_classes
        for y in range(ny):
            _start_row(rp, slot, z, y, yp, xp, first)
            ty = y // token
            row0 = y == 0
            i0 = slot * sy + (y + 3) * xp + 2
            row = i0
            out_row = (z * ny + y) * nx
            if decoding and y % token == 0:
                for tx in range(tx_n):
                    ct = (z * ty_n + ty) * tx_n + tx
                    left = left_class(classes, ct, tx, ty, tx_n)
                    sym = decode_symbol(st, words, ws, bin_tok, freq_t, start_t, TOKEN_CTX)
                    f = sym // k1
                    r = sym - f * k1
                    cls = left if r == 0 else r - 1
                    if cls >= allowed or f > 1:
                        return BAD_CLASS
                    classes[ct] = cls
                    flags[ty * tx_n + tx] = f
            if not row0:
                row_ctx(rp, qp, row, xp, sy, prev, nx, gext, eext)
            for tx in range(tx_n):
                ct = (z * ty_n + ty) * tx_n + tx
                cls = classes[ct]
                flag = 0
                if decoding:
                    if ws[2] or rs[3]:
                        return EXHAUSTED
                    flag = flags[ty * tx_n + tx]
                x0 = tx * token
                x1 = min(nx, x0 + token)
                if row0:
                    status = _row0(decoding, vol, qv, bv, rp, qp, i0 + x0, x1 - x0, out_row + x0, sy, prev, flag,
                                   lo, hi, mid, max_error, max_q, st, words, ws, bin_tok, freq_t, start_t, raw, rs)
                    if status != OK:
                        return status
                    continue
                token_ext(rp, row, x0, x1, cls, tap_offs, tap_coefs, n_taps, ext)
                base = cls * N_TAPS
                cw = int(coefs[base + TAP_W])
                cww = int(coefs[base + TAP_WW])
                cwww = int(coefs[base + TAP_WWW])
                hm = mid_c[cls] + _HALF
                wi = int(rp[i0 + x0 - 1])
                wwi = int(rp[i0 + x0 - 2])
                wwwi = int(rp[i0 + x0 - 3])
                # the lanes' states in locals, the lane of the next symbol first
                n_sym = ws[0]
                pos = ws[1]
                s0 = st[n_sym & 3]
                s1 = st[(n_sym + 1) & 3]
                s2 = st[(n_sym + 2) & 3]
                s3 = st[(n_sym + 3) & 3]
                for x in range(x0, x1):
                    pred = (int(ext[x]) + hm + cw * wi + cww * wwi + cwww * wwwi) >> SHIFT
                    if pred < lo:
                        pred = lo
                    elif pred > hi:
                        pred = hi
                    b = bucket(((int(gext[x]) * inv_s) >> 24) + int(eext[x]))
                    if decoding:
                        q = 0
                        if not flag:
                            # rANS: the token of slot rank = s0 & MASK in context b (see decode_symbol)
                            rank = s0 & _MASK
                            cb = b * (ALPHABET + 1)
                            u = int(bin_tok[(b << (_PREC - _BIN_SHIFT)) + (rank >> _BIN_SHIFT)])
                            while rank >= start_t[cb + u + 1]:
                                u += 1
                            s0 = freq_t[cb + u] * (s0 >> _PREC) + rank - start_t[cb + u]
                            # renormalise without a branch (whether a word moves follows the data):
                            # ``words`` holds WORD_PAD zero words past its end, and pos is checked
                            # after each token (at most ``token`` symbols move it on)
                            more = int(s0 < _STATE_LOW)
                            s0 = (s0 << (more << 4)) | (int(words[pos]) & -more)
                            pos += more
                            s0, s1, s2, s3 = s1, s2, s3, s0
                            n_sym += 1
                            if u >= DIRECT:
                                k = u - DIRECT
                                n = _DIRECT_EXP + (k >> MSB) - MSB
                                u = (((1 << MSB) | (k & ((1 << MSB) - 1))) << n) | read_bits(raw, rs, n)
                            q = (u >> 1) ^ -(u & 1)
                            if q > max_q or q < -max_q:
                                return BAD_RESIDUAL
                    else:
                        bv[out_row + x] = b
                        q = _quantise(vol[out_row + x] - pred, max_error, s, inv_f)
                        qv[out_row + x] = q
                    rec = pred + q * s
                    if rec < lo:
                        rec = lo
                    elif rec > hi:
                        rec = hi
                    wwwi = wwi
                    wwi = wi
                    wi = rec - mid
                    rp[i0 + x] = float(wi)
                    qp[i0 + x] = float(q)
                    if decoding:
                        vol[out_row + x] = rec
                if decoding and n_sym != ws[0]:
                    st[n_sym & 3] = s0
                    st[(n_sym + 1) & 3] = s1
                    st[(n_sym + 2) & 3] = s2
                    st[(n_sym + 3) & 3] = s3
                    ws[0] = n_sym
                    if pos > n_words:
                        ws[2] = 1
                        return EXHAUSTED
                    ws[1] = pos
            _end_row(rp, slot, y, yp, xp, nx, y == ny - 1, z == 0 and slot == 1)
        if slot == 2:
            for k in range(2 * sy):
                rp[k] = rp[sy + k]
                qp[k] = qp[sy + k]
    if decoding and (ws[2] or rs[3]):
        return EXHAUSTED
    return OK
