"""The per-symbol loops of the interleaved rANS coder (:mod:`.rans`), written once as plain
Python: :mod:`.rans_loops` compiles these same functions with numba; where numba does not run,
:mod:`.rans_loops` hands them out as they are (see :mod:`..numba_support`: exact, 100-300x
slower).

The coder (F. Giesen's interleaved rANS, "rans_word" variant):

* state: an integer in [STATE_LOW, STATE_LOW * 2**16) = [2**16, 2**32), one per lane; symbol i
  of a group goes to lane i % LANES;
* frequencies: integers >= 1 that sum to 2**PRECISION per group (``freq``, ``start`` = their
  running sum);
* encoding symbol s (the symbols of a chunk from its last to its first): if x >= freq <<
  (32 - PRECISION), push the low 16 bits of x and shift them out; then x = (x // freq) <<
  PRECISION + x % freq + start;
* decoding (first to last): slot = x % 2**PRECISION, s = the symbol whose [start, start +
  freq) holds slot, x = freq * (x >> PRECISION) + slot - start; if x < STATE_LOW, x = x << 16
  | the next word. At most one word moves per symbol either way (16-bit words, PRECISION <=
  16).

The four lanes' steps are written out one after the other, with the states in local
variables: the same loops with a per-symbol helper (numba ``register_jitable``, also with
``inline="always"``) ran 2.2x slower both ways (benchmarks/RESULTS.md, v0.4.0).

Integers only: the same words on every machine. Every function takes and returns plain
integers and 1D arrays (or lists) and calls nothing but ``int``, ``len``, ``range`` and (in
:func:`normalize_counts`) NumPy's stable argsort, so that numba compiles it and CPython runs
it unchanged.
"""

from __future__ import annotations

import numpy as np

#: bits of the frequencies: each group's frequencies sum to 2**PRECISION.
PRECISION = 14
#: interleaved coder states; symbol i of a group is coded by lane i % LANES.
LANES = 4
#: lower bound of a lane's state (and its value before the first and after the last symbol).
STATE_LOW = 1 << 16
_MASK = (1 << PRECISION) - 1
#: a state of at least freq << _RENORM_SHIFT pushes a word before coding a symbol of frequency freq.
_RENORM_SHIFT = 32 - PRECISION
#: the type of the encoder's (and the slot tables') array indices: int here, numpy.uint64 where
#: :mod:`.rans_loops` compiles the loops (numba then indexes without a test for negative indices).
_unsigned = int


def normalize_counts(counts, freq):
    """Frequencies into ``freq`` (k,) int64 of symbols with ``counts`` (k,) int64 (2 <= k <
    2**PRECISION, 1 <= counts <= 2**40, so that count x spare slots < 2**54 and their sum stay
    within int64): each symbol gets 1 plus its
    share of the other 2**PRECISION - k slots rounded down; the slots left (fewer than k) go,
    one each, to the symbols with the largest remainders of that division, the lower rank
    first among equals (a stable sort)."""
    k = len(counts)
    total = 0
    for r in range(k):
        total += counts[r]
    spare = (1 << PRECISION) - k
    remainders = np.empty(k, np.int64)
    given = 0
    for r in range(k):
        scaled = counts[r] * spare
        freq[r] = 1 + scaled // total
        remainders[r] = -(scaled % total)
        given += freq[r]
    left = (1 << PRECISION) - given
    if left > 0:
        order = np.argsort(remainders, kind="mergesort")
        for j in range(left):
            freq[order[j]] += 1


def encode_symbols(codes, base, freq_of_code, start_of_code, inverse_of_code, states, words, n_words):
    """Code ``codes`` (n,) (any integer dtype; code - ``base`` indexes ``freq_of_code``,
    ``start_of_code`` (int64) and ``inverse_of_code`` (float64, :func:`rounded_up_inverse`
    of each frequency)) from the last to the first onto the lanes' ``states`` (LANES,) int64,
    pushing words (uint16) onto ``words`` from index ``n_words``; returns the new word count.
    ``words`` must have room for n more words (a symbol pushes at most one; a lane writes its
    low word at the next free index whether or not it pushes it).

    x // freq is taken as int(x * inverse), exact for the states coded here (see
    :func:`rounded_up_inverse`): a multiply instead of a 64-bit division. The step x ->
    (x // freq) * 2**PRECISION + x % freq + start is written x + (x // freq) * (2**PRECISION -
    freq) + start, and the renormalisation without a branch (one word written each time, the
    count moved by 0 or 1), since whether a lane pushes follows the data (a branch there is
    mispredicted often). Indices are ``_unsigned`` (numba: uint64, which it indexes without
    testing for negative indices, 1.6-2x faster here; CPython: int)."""
    n = len(codes)
    i = n - 1
    while i >= 0 and (i + 1) % LANES:  # the last n % LANES symbols, each on its own lane
        lane = i % LANES
        x = states[lane]
        code = int(codes[i]) - base
        freq = freq_of_code[code]
        if x >= freq << _RENORM_SHIFT:
            words[n_words] = x & 0xFFFF
            n_words += 1
            x >>= 16
        states[lane] = x + int(x * inverse_of_code[code]) * ((1 << PRECISION) - freq) + start_of_code[code]
        i -= 1
    x0 = states[0]
    x1 = states[1]
    x2 = states[2]
    x3 = states[3]
    n_pushed = _unsigned(n_words)
    for quad in range((i + 1) // LANES):  # symbols at - 3 .. at: lanes 3, 2, 1, 0
        at = _unsigned(i - LANES * quad)
        code = _unsigned(codes[at] - base)
        freq = freq_of_code[code]
        push = int(x3 >= freq << _RENORM_SHIFT)
        words[n_pushed] = x3 & 0xFFFF
        n_pushed += _unsigned(push)
        x3 >>= push << 4
        x3 += int(x3 * inverse_of_code[code]) * ((1 << PRECISION) - freq) + start_of_code[code]
        code = _unsigned(codes[at - _unsigned(1)] - base)
        freq = freq_of_code[code]
        push = int(x2 >= freq << _RENORM_SHIFT)
        words[n_pushed] = x2 & 0xFFFF
        n_pushed += _unsigned(push)
        x2 >>= push << 4
        x2 += int(x2 * inverse_of_code[code]) * ((1 << PRECISION) - freq) + start_of_code[code]
        code = _unsigned(codes[at - _unsigned(2)] - base)
        freq = freq_of_code[code]
        push = int(x1 >= freq << _RENORM_SHIFT)
        words[n_pushed] = x1 & 0xFFFF
        n_pushed += _unsigned(push)
        x1 >>= push << 4
        x1 += int(x1 * inverse_of_code[code]) * ((1 << PRECISION) - freq) + start_of_code[code]
        code = _unsigned(codes[at - _unsigned(3)] - base)
        freq = freq_of_code[code]
        push = int(x0 >= freq << _RENORM_SHIFT)
        words[n_pushed] = x0 & 0xFFFF
        n_pushed += _unsigned(push)
        x0 >>= push << 4
        x0 += int(x0 * inverse_of_code[code]) * ((1 << PRECISION) - freq) + start_of_code[code]
    states[0] = x0
    states[1] = x1
    states[2] = x2
    states[3] = x3
    return int(n_pushed)


def rounded_up_inverse(freq):
    """1 / ``freq`` (float64 array, or a number) rounded up by 2**-40 of itself, so that
    int(x * inverse) = x // freq for every integer 0 <= x < freq * 2**(32 - PRECISION) (the
    states :func:`encode_symbols` divides: below freq << _RENORM_SHIFT after renormalising),
    for 1 <= freq <= 2**PRECISION.

    Why: fl(1 / f) and each product are rounded to within 2**-53 of themselves, so the
    computed x * inverse lies in (x / f) * (1 + 2**-40) * (1 +- 2**-53)**3: at least x / f
    (its integer part at least x // f) and above it by less than (x / f) * 2**-39 < 2**(18 -
    39) = 2**-21 (x / f < 2**18), while x / f lies at least 1 / f >= 2**-14 below x // f + 1.
    tests/test_rans.py checks every frequency at the quotients where the error is largest."""
    return (1.0 / freq) * (1.0 + 2.0**-40)


def fill_slots(freq, slot_info, slot_rank):
    """The decoder's tables of one group: for each slot (2**PRECISION,) of the symbol of rank r
    (``freq`` (k,) int64, summing to 2**PRECISION), ``slot_info`` = freq[r] << PRECISION |
    (slot - start[r]) and ``slot_rank`` = r. Slots are ``_unsigned`` (numba: uint64, which lets
    LLVM vectorise the inner loop: 1.2-2.2 instead of 13.6-16.1 us per table)."""
    slot = _unsigned(0)
    for rank in range(len(freq)):
        f = freq[rank]
        info = f << PRECISION
        for k in range(f):
            slot_info[slot + _unsigned(k)] = info | k
            slot_rank[slot + _unsigned(k)] = rank
        slot += _unsigned(f)


def decode_symbols(states, words, position, n, slot_info, slot_rank, symbols, out):
    """Decode ``n`` symbols into ``out`` (n,) from the lanes' ``states`` (LANES,) int64 and
    ``words`` (uint16) from index ``position``: ``out[i] = symbols[slot_rank[slot]]``. Updates
    ``states``; returns the index of the next unread word, or -1 where the words ran out (a
    damaged stream: ``out`` then holds garbage)."""
    n_words = len(words)
    pos = position
    x0 = states[0]
    x1 = states[1]
    x2 = states[2]
    x3 = states[3]
    whole = n - n % LANES
    i = 0
    while i < whole:
        slot = x0 & _MASK
        info = slot_info[slot]
        out[i] = symbols[slot_rank[slot]]
        x0 = (info >> PRECISION) * (x0 >> PRECISION) + (info & _MASK)
        slot = x1 & _MASK
        info = slot_info[slot]
        out[i + 1] = symbols[slot_rank[slot]]
        x1 = (info >> PRECISION) * (x1 >> PRECISION) + (info & _MASK)
        slot = x2 & _MASK
        info = slot_info[slot]
        out[i + 2] = symbols[slot_rank[slot]]
        x2 = (info >> PRECISION) * (x2 >> PRECISION) + (info & _MASK)
        slot = x3 & _MASK
        info = slot_info[slot]
        out[i + 3] = symbols[slot_rank[slot]]
        x3 = (info >> PRECISION) * (x3 >> PRECISION) + (info & _MASK)
        if x0 < STATE_LOW:
            if pos >= n_words:
                return -1
            x0 = (x0 << 16) | int(words[pos])
            pos += 1
        if x1 < STATE_LOW:
            if pos >= n_words:
                return -1
            x1 = (x1 << 16) | int(words[pos])
            pos += 1
        if x2 < STATE_LOW:
            if pos >= n_words:
                return -1
            x2 = (x2 << 16) | int(words[pos])
            pos += 1
        if x3 < STATE_LOW:
            if pos >= n_words:
                return -1
            x3 = (x3 << 16) | int(words[pos])
            pos += 1
        i += LANES
    states[0] = x0
    states[1] = x1
    states[2] = x2
    states[3] = x3
    while i < n:  # the last n % LANES symbols, each on its own lane
        lane = i % LANES
        x = states[lane]
        slot = x & _MASK
        info = slot_info[slot]
        out[i] = symbols[slot_rank[slot]]
        x = (info >> PRECISION) * (x >> PRECISION) + (info & _MASK)
        if x < STATE_LOW:
            if pos >= n_words:
                return -1
            x = (x << 16) | int(words[pos])
            pos += 1
        states[lane] = x
        i += 1
    return pos
