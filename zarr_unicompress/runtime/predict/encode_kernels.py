"""The encoder's side of payload version 2 (:mod:`.fast_codec`), plain Python that
:mod:`.fast_loops` compiles: the choice of a predictor per token (:func:`choose_rows`), the
tokens' zero flags and the symbols in the decoder's order (:func:`emit`). The decoder never runs
these: floats are fine in the choice (it is deterministic all the same: no reassociation)."""

from __future__ import annotations

import numpy as np

from .row_kernels import ALPHABET, DIRECT, TOKEN_CTX, left_class, zigzag_token
from .taps import N_TAPS

_STEPS = 8
#: the type of array indices in the vectorised loops: int here, numpy.uint64 where
#: :mod:`.fast_loops` compiles them (no negative-index tests).
_unsigned = int
#: 2 log2(1 + k / _STEPS) for k = 0 .. 4095: the approximate bits of a residual k / _STEPS steps.
_LOG_COST = 2.0 * np.log2(1.0 + np.arange(4096) / _STEPS)


def choose_rows(vp, coefs, ntaps, offs, shape, token, n_classes, n_2d, max_error, switch_bits, row_step,
                classes, acc, cost):
    """Fill ``classes`` (Z*TY*TX,) int64 with each token's predictor: the open-loop cost (bits
    of :data:`_LOG_COST`) of each allowed predictor on the original voxels of every
    ``row_step``-th row of the token (rows row_step // 2, row_step // 2 + row_step, ... of it;
    row 0 of a slice never), plus ``switch_bits`` where the index differs from the one of the
    token to the left (or above). ``vp`` is the chunk in the padded work layout (float32, the
    margins replicated from the edges), ``coefs`` (K*N_TAPS,) float32 the integer
    coefficients; ``acc`` (X,) float32 and ``cost`` (TX*K,) float64 scratch (float32 sums: 8
    lanes a vector; their rounding only sways the choice, the same on every machine). Each predictor's sum is taken
    over a whole row at once (long loops the compiler vectorises)."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    yp = ny + 5
    xp = nx + 4
    sy = yp * xp
    ty_n = (ny + token - 1) // token
    tx_n = (nx + token - 1) // token
    scale = _STEPS / ((2 * max_error + 1) * 4096.0)
    un = _unsigned(nx)
    ut = _unsigned(token)
    for z in range(nz):
        allowed = n_2d if z == 0 else n_classes
        for ty in range(ty_n):
            for j in range(tx_n * n_classes):
                cost[j] = 0.0
            for y in range(ty * token + row_step // 2, min(ny, (ty + 1) * token), row_step):
                if y == 0:
                    continue
                row = (z + 1) * sy + (y + 3) * xp + 2
                for k in range(allowed):
                    for x in range(un):
                        acc[x] = 0.0
                    base = k * N_TAPS
                    nt = ntaps[k]
                    t = 0
                    while t < nt:  # four taps a pass, then two (N_TAPS and N_TAPS_2D are even)
                        c0 = coefs[base + t]
                        c1 = coefs[base + t + 1]
                        o0 = _unsigned(row + offs[t])
                        o1 = _unsigned(row + offs[t + 1])
                        if t + 4 <= nt:
                            c2 = coefs[base + t + 2]
                            c3 = coefs[base + t + 3]
                            o2 = _unsigned(row + offs[t + 2])
                            o3 = _unsigned(row + offs[t + 3])
                            for x in range(un):
                                acc[x] += (c0 * vp[o0 + x] + c1 * vp[o1 + x]) + (c2 * vp[o2 + x] + c3 * vp[o3 + x])
                            t += 4
                        else:
                            for x in range(un):
                                acc[x] += c0 * vp[o0 + x] + c1 * vp[o1 + x]
                            t += 2
                    r0 = _unsigned(row)
                    for x in range(un):
                        a = abs(vp[r0 + x] * 4096.0 - acc[x]) * scale
                        cost[(x // ut) * n_classes + k] += _LOG_COST[int(a) if a < 4095.0 else 4095]
            for tx in range(tx_n):
                ct = (z * ty_n + ty) * tx_n + tx
                left = left_class(classes, ct, tx, ty, tx_n)
                if left >= allowed:
                    left = 0
                best = left
                best_cost = cost[tx * n_classes + left]
                for k in range(allowed):
                    c = cost[tx * n_classes + k] + switch_bits
                    if c < best_cost:
                        best = k
                        best_cost = c
                classes[ct] = best


def emit(qv, bv, classes, shape, token, n_classes, codes, raw_value, raw_bits, counts, flags):
    """The symbols of a chunk in the decoder's order: per row of tokens, each token's symbol
    (context TOKEN_CTX: its zero flag * (K + 1) + 0 where its predictor is the one to its left
    (or above), else 1 + the predictor), then per row each voxel's token (context: its bucket
    ``bv``) unless its token is flagged; raw low bits go to ``raw_value`` / ``raw_bits``.
    ``qv`` (Z*Y*X,) int64 the quantised residuals; fills ``codes`` (ctx * ALPHABET + token,
    int64), ``counts`` (N_CTX*ALPHABET,) int64 and ``flags`` (Z*TY*TX,) int64; returns (symbols,
    raw values)."""
    nz, ny, nx = shape[0], shape[1], shape[2]
    ty_n = (ny + token - 1) // token
    tx_n = (nx + token - 1) // token
    for z in range(nz):
        for ty in range(ty_n):
            for tx in range(tx_n):
                zero = 1
                for y in range(ty * token, min(ny, (ty + 1) * token)):
                    at = (z * ny + y) * nx
                    for x in range(tx * token, min(nx, (tx + 1) * token)):
                        if qv[at + x] != 0:
                            zero = 0
                flags[(z * ty_n + ty) * tx_n + tx] = zero
    n_codes = 0
    n_raw = 0
    for z in range(nz):
        for y in range(ny):
            ty = y // token
            if y % token == 0:
                for tx in range(tx_n):
                    ct = (z * ty_n + ty) * tx_n + tx
                    left = left_class(classes, ct, tx, ty, tx_n)
                    cls = classes[ct]
                    sym = flags[ct] * (n_classes + 1) + (0 if cls == left else cls + 1)
                    code = TOKEN_CTX * ALPHABET + sym
                    codes[n_codes] = code
                    counts[code] += 1
                    n_codes += 1
            at = (z * ny + y) * nx
            for tx in range(tx_n):
                if flags[(z * ty_n + ty) * tx_n + tx]:
                    continue
                for x in range(tx * token, min(nx, (tx + 1) * token)):
                    q = qv[at + x]
                    u = 2 * q if q >= 0 else -2 * q - 1
                    tok, n = zigzag_token(u)
                    code = int(bv[at + x]) * ALPHABET + tok
                    codes[n_codes] = code
                    counts[code] += 1
                    n_codes += 1
                    if u >= DIRECT:
                        raw_value[n_raw] = u & ((1 << n) - 1)
                        raw_bits[n_raw] = n
                        n_raw += 1
    return n_codes, n_raw


def pack_bits(raw_value, raw_bits, n, out):
    """The first ``n`` raw values (``raw_bits`` bits each, LSB first) packed into ``out``
    (uint8, at least sum(bits) / 8 + 8 bytes); returns the bytes used."""
    acc = 0
    have = 0
    pos = 0
    for j in range(n):
        acc |= raw_value[j] << have
        have += raw_bits[j]
        while have >= 8:
            out[pos] = acc & 0xFF
            acc >>= 8
            have -= 8
            pos += 1
    if have > 0:
        out[pos] = acc & 0xFF
        pos += 1
    return pos
