"""The interleaved rANS coder's loops (:mod:`.rans_kernels`) compiled with numba (on-disk
cache, releasing the GIL, integer arithmetic only: the same words and symbols as the plain
Python functions, which run where numba does not, see :mod:`..numba_support`), and
:func:`encode_group` / :func:`decode_group`, which chain the loops for one group in one call (a
ratio-mode chunk decodes about 32 groups: 5.7 instead of 9.9 us of Python per group, less time
holding the GIL)."""

from __future__ import annotations

import numpy as np

from . import rans_kernels
from ..numba_support import compiled_copy, jit

_jit = jit(cache=True, nogil=True, fastmath=False)

normalize_counts = _jit(rans_kernels.normalize_counts)
# indices as numpy.uint64 (the plain module's ``_unsigned`` is int): no negative-index tests
encode_symbols = compiled_copy(_jit, rans_kernels.encode_symbols, _unsigned=np.uint64)
fill_slots = compiled_copy(_jit, rans_kernels.fill_slots, _unsigned=np.uint64)
decode_symbols = _jit(rans_kernels.decode_symbols)
rounded_up_inverse = _jit(rans_kernels.rounded_up_inverse)


@_jit
def encode_group(codes, base, offsets, freq, states, words, n_words):
    """One group in one call: the encoder's tables of a group (symbol r has code ``base +
    offsets[r]``, ``offsets`` (k,) int64 ascending, and frequency ``freq[r]``), then
    :func:`encode_symbols` of ``codes``. Returns the new word count."""
    span = offsets[len(offsets) - 1] + 1
    freq_of_code = np.zeros(span, np.int64)
    start_of_code = np.zeros(span, np.int64)
    inverse_of_code = np.zeros(span, np.float64)
    start = 0
    for r in range(len(offsets)):
        code = offsets[r]
        f = freq[r]
        freq_of_code[code] = f
        start_of_code[code] = start
        inverse_of_code[code] = rounded_up_inverse(np.float64(f))
        start += f
    return encode_symbols(codes, base, freq_of_code, start_of_code, inverse_of_code, states, words, n_words)

#: :func:`decode_group`'s answer where the counts do not normalise to frequencies >= 1 summing
#: to 2**PRECISION (a damaged table; the words ran out: -1, as :func:`decode_symbols` says).
NOT_NORMALISED = -2


@_jit
def decode_group(counts, symbols, states, words, position, freq, slot_info, slot_rank, out):
    """One group in one call (the GIL is released throughout): the frequencies of ``counts``
    (k,) int64 into ``freq`` (at least k) int64, checked, the slot tables, then
    :func:`decode_symbols` of len(``out``) symbols. Returns the next word position, -1 where the
    words ran out or NOT_NORMALISED; the same frequencies, tables and symbols as the separate
    calls."""
    k = len(counts)
    group_freq = freq[:k]
    normalize_counts(counts, group_freq)
    total = 0
    for r in range(k):
        if group_freq[r] < 1:
            return NOT_NORMALISED
        total += group_freq[r]
    if total != 1 << rans_kernels.PRECISION:
        return NOT_NORMALISED
    fill_slots(group_freq, slot_info, slot_rank)
    return decode_symbols(states, words, position, len(out), slot_info, slot_rank, symbols, out)
