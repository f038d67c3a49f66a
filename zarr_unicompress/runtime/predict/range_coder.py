"""An adaptive binary range coder (LZMA's carry-less range coder with a byte cache) with
two-rate integer probabilities, written as plain Python functions that numba compiles
(:mod:`.loops`) and CPython runs unchanged (slowly).

* coder state ``rc`` (int64, 6): low (< 2**40), range (in [2**24, 2**32) between symbols), the
  cached byte, the count of pending bytes, the write (or read) position in ``buf`` (uint8) and
  an overflow / exhaustion flag;
* a context is two 16-bit states in ``probs`` (int32) at 2c and 2c + 1: the probability of a
  0 bit is (p_fast + p_slow) / 2**17, p_fast adapting with shift FAST, p_slow with shift SLOW;
  both stay within [2**SLOW - 1, 2**16 - 2**SLOW + 1] (the updates never reach 0 or 2**16), so
  a coded bit costs at least 0.0016 bits and never more than 9.9 bits;
* integers only: the same bytes on every machine.
"""

from __future__ import annotations

import numpy as np

#: shift of the fast and the slow probability state (per bit, the state moves by 1/2**shift of
#: the distance to 0 or 2**16).
FAST = 5
SLOW = 8
#: the initial probability state (one half).
HALF_STATE = 1 << 15
_TOP = 1 << 24
_MASK32 = (1 << 32) - 1
#: index of each field in a coder state.
LOW, RANGE, CACHE, PENDING, POS, FLAG = 0, 1, 2, 3, 4, 5


def new_probs(n_contexts: int) -> np.ndarray:
    """Fresh probability states (2 * n_contexts,) int32, all one half."""
    return np.full(2 * n_contexts, HALF_STATE, np.int32)


def encoder_state() -> np.ndarray:
    """A fresh encoder state (6,) int64."""
    rc = np.zeros(6, np.int64)
    rc[RANGE] = _MASK32
    rc[PENDING] = 1
    return rc


def _shift_low(rc, buf):
    low = rc[LOW]
    if low < 0xFF000000 or low > _MASK32:
        carry = low >> 32
        temp = rc[CACHE]
        pos = rc[POS]
        cap = len(buf)
        while True:
            if pos < cap:
                buf[pos] = (temp + carry) & 0xFF
            else:
                rc[FLAG] = 1
            pos += 1
            temp = 0xFF
            rc[PENDING] -= 1
            if rc[PENDING] == 0:
                break
        rc[POS] = pos
        rc[CACHE] = (low >> 24) & 0xFF
    rc[PENDING] += 1
    rc[LOW] = (low & 0x00FFFFFF) << 8


def encode_bit(rc, buf, probs, ctx, bit):
    """Code ``bit`` (0 or 1) with the probability states of context ``ctx``, then adapt them."""
    a = probs[2 * ctx]
    b = probs[2 * ctx + 1]
    p0 = (a + b) >> 1
    bound = (rc[RANGE] >> 16) * p0
    if bit == 0:
        rc[RANGE] = bound
        probs[2 * ctx] = a + ((65536 - a) >> FAST)
        probs[2 * ctx + 1] = b + ((65536 - b) >> SLOW)
    else:
        rc[LOW] += bound
        rc[RANGE] -= bound
        probs[2 * ctx] = a - (a >> FAST)
        probs[2 * ctx + 1] = b - (b >> SLOW)
    while rc[RANGE] < _TOP:
        rc[RANGE] <<= 8
        _shift_low(rc, buf)


def finish(rc, buf):
    """Flush the encoder; returns the number of bytes written (rc[FLAG] = 1 where ``buf`` was
    too small: the bytes are then incomplete)."""
    for _ in range(5):
        _shift_low(rc, buf)
    return rc[POS]


def decoder_state(buf, start):
    """A decoder state (6,) int64 reading ``buf`` (uint8) from index ``start``."""
    rc = np.zeros(6, np.int64)
    rc[RANGE] = _MASK32
    pos = start
    code = 0
    for _ in range(5):
        byte = 0
        if pos < len(buf):
            byte = int(buf[pos])
        else:
            rc[FLAG] = 1
        code = ((code << 8) | byte) & 0xFFFFFFFFFF
        pos += 1
    rc[LOW] = code & _MASK32  # the code value (the first byte is the encoder's initial cache, 0)
    if code > _MASK32:
        rc[FLAG] = 1
    rc[POS] = pos
    return rc


def decode_bit(rc, buf, probs, ctx):
    """Decode one bit with context ``ctx`` and adapt its states. Past the end of ``buf`` it
    reads zeros and sets rc[FLAG] (the encoder's bytes are never read past: a damaged stream)."""
    a = probs[2 * ctx]
    b = probs[2 * ctx + 1]
    p0 = (a + b) >> 1
    bound = (rc[RANGE] >> 16) * p0
    if rc[LOW] < bound:
        rc[RANGE] = bound
        probs[2 * ctx] = a + ((65536 - a) >> FAST)
        probs[2 * ctx + 1] = b + ((65536 - b) >> SLOW)
        bit = 0
    else:
        rc[LOW] -= bound
        rc[RANGE] -= bound
        probs[2 * ctx] = a - (a >> FAST)
        probs[2 * ctx + 1] = b - (b >> SLOW)
        bit = 1
    while rc[RANGE] < _TOP:
        rc[RANGE] <<= 8
        pos = rc[POS]
        byte = 0
        if pos < len(buf):
            byte = int(buf[pos])
        else:
            rc[FLAG] = 1
        rc[LOW] = ((rc[LOW] << 8) | byte) & _MASK32
        rc[POS] = pos + 1
    return bit
