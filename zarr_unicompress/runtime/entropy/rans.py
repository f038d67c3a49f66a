"""Interleaved rANS: the entropy coder of streams with FLAG_RANS (v0.4.0 on).

Why its own coder: constriction's decoder (a binary search over a 24-bit CDF per symbol,
holding the GIL) took 60-80 % of a ratio-mode decode at ratios 4-16. This coder looks each
symbol up in a table of 2**PRECISION slots and keeps LANES independent states, so that the
CPU overlaps their work; its loops (:mod:`.rans_kernels`) are compiled by numba and release
the GIL (benchmarks/RESULTS.md, v0.4.0, has the figures).

Word section of such a stream (little endian; empty where no group codes a symbol)::

    states   LANES * u32   the lanes' states after encoding (the decoder's start)
    words    u16 ...       in the order the decoder reads them

The frequency tables stay what the stream's table section holds (raw counts, see
:mod:`.groups`); both sides derive each group's frequencies from them with
:func:`normalized_frequencies` (integer arithmetic only). Groups of one distinct symbol (or
none) code nothing. The groups are decoded in their order, each group's symbol i on lane i %
LANES, the states carried from group to group; after the last group every state is back at
STATE_LOW and every word was read, else the stream is damaged.

Where numba does not run, the same loops run as plain Python (:mod:`..numba_support`: same
words and symbols, 100-300x slower).
"""

from __future__ import annotations

import struct

import numpy as np

from ...errors import ChunkCorrupt
from .. import numba_support
from .rans_kernels import LANES, PRECISION, STATE_LOW

#: a chunk is coded with this coder where its groups all have at most this many distinct
#: symbols (each gets a frequency of at least 2**-PRECISION: many rare ones cost bits) ...
MAX_DISTINCT = 1 << 12
#: ... and their words take at most this share more than the groups' entropy (plus 64 bits),
#: which constriction's 24-bit model nearly reaches: skewed groups with many rare symbols
#: (e.g. residuals of 16-bit data at very fine steps) would cost several times that here.
#: Real chunks: +0.02-0.03 % on (30, 512, 512) ISBI blocks at ratios 4-64.
MAX_EXCESS = 0.005
_STATES = struct.Struct(f"<{LANES}I")
# the decoder's slot tables: slot_info (int32) holds freq << PRECISION | offset, slot_rank (int16) a rank
if 2 * PRECISION + 1 > 31 or MAX_DISTINCT > np.iinfo(np.int16).max:
    raise RuntimeError("rANS constants outgrow the decoder's int32 / int16 slot tables")


def normalized_frequencies(counts: np.ndarray) -> np.ndarray:
    """Frequencies (k,) int64, each >= 1, summing to 2**PRECISION, of symbols with ``counts``
    (k,) (2 <= k <= MAX_DISTINCT, 1 <= counts <= 2**40): :func:`.rans_kernels.normalize_counts`
    (integer arithmetic and a stable sort: the same frequencies on every machine)."""
    counts = np.ascontiguousarray(counts, np.int64)
    freq = np.empty(len(counts), np.int64)
    numba_support.loops("entropy.rans_loops").normalize_counts(counts, freq)
    return freq


def frequencies_if_affordable(counts: list[np.ndarray]) -> list[np.ndarray | None] | None:
    """The frequencies of groups with ``counts`` (each (k,) int64 >= 1; None for groups of one
    symbol or none, which code nothing), or None where this coder should not code them: a
    group has more than MAX_DISTINCT symbols, or the words would exceed the groups' entropy by
    more than MAX_EXCESS (the sizes are known from the counts before coding).

    The sizes are :func:`.estimate_loops.coder_choice_bits` (one call for all groups; its log2
    and sums in index order are the same on every machine), so the choice of coder is too."""
    if any(len(c) > MAX_DISTINCT for c in counts):
        return None
    coded = [np.ascontiguousarray(c, np.int64) for c in counts if len(c) >= 2]
    frequencies: list[np.ndarray | None] = [None] * len(counts)
    if not coded:
        return frequencies
    lengths = [len(c) for c in coded]
    ends = np.cumsum(lengths)
    all_counts = np.concatenate(coded)
    all_freq = np.empty(len(all_counts), np.int64)
    entropy_bits, coded_bits = numba_support.loops("entropy.estimate_loops").coder_choice_bits(
        all_counts, ends, PRECISION, all_freq)
    groups = iter(np.split(all_freq, ends[:-1]))
    for g, c in enumerate(counts):
        if len(c) >= 2:
            frequencies[g] = next(groups)
    return frequencies if coded_bits <= entropy_bits * (1 + MAX_EXCESS) + 64 else None


def encode_words(groups: list[tuple[np.ndarray, int, np.ndarray]], frequencies: list[np.ndarray | None]) -> bytes:
    """The word section of ``groups``, each (codes (n,) integer, base, offsets (k,) int64),
    with ``frequencies`` from :func:`frequencies_if_affordable`: symbol r of a group's table
    has code ``base + offsets[r]`` and frequency ``freq[r]``. Groups are coded from the last
    to the first, so that the decoder reads them in order. Empty where no group codes a
    symbol."""
    loops = numba_support.loops("entropy.rans_loops")
    n_total = sum(len(codes) for (codes, _, _), freq in zip(groups, frequencies) if freq is not None)
    if n_total == 0:
        return b""
    states = np.full(LANES, STATE_LOW, np.int64)
    words = np.empty(n_total, np.uint16)  # a symbol pushes at most one word; untouched pages cost nothing
    n_words = 0
    for (codes, base, offsets), freq in zip(reversed(groups), reversed(frequencies)):
        if freq is not None:
            n_words = loops.encode_group(codes, base, offsets, freq, states, words, n_words)
    return _STATES.pack(*(int(s) for s in states)) + words[:n_words][::-1].astype("<u2").tobytes()


class RansReader:
    """Decodes the groups of a word section written by :func:`encode_words`, one at a time."""

    def __init__(self, word_bytes: bytes) -> None:
        if not word_bytes:  # no group coded a symbol
            word_bytes = _STATES.pack(*[STATE_LOW] * LANES)
        if len(word_bytes) < _STATES.size or (len(word_bytes) - _STATES.size) % 2:
            raise ChunkCorrupt(f"chunk rANS section of {len(word_bytes)} bytes is not {_STATES.size} bytes of "
                               "states plus 16-bit words; the chunk is damaged")
        states = _STATES.unpack_from(word_bytes, 0)
        if not all(STATE_LOW <= s < STATE_LOW << 16 for s in states):
            raise ChunkCorrupt("chunk rANS section starts with an impossible coder state; the chunk is damaged")
        self._states = np.array(states, np.int64)
        self._loops = numba_support.loops("entropy.rans_loops")
        words = np.frombuffer(word_bytes, "<u2", offset=_STATES.size)
        self._words = words.astype(np.uint16)
        self._position = 0
        # the slot tables of the group being decoded, filled anew for each group
        self._slot_info = np.empty(1 << PRECISION, np.int32)
        self._slot_rank = np.empty(1 << PRECISION, np.int16)
        self._freq = np.empty(MAX_DISTINCT, np.int64)  # the group's frequencies (its first k)

    def decode(self, counts: np.ndarray, symbols: np.ndarray, out: np.ndarray | None = None,
               total: int | None = None) -> np.ndarray:
        """The next group: ``counts.sum()`` symbols (``total`` where the caller has it), each
        one of ``symbols`` (k,) (ascending, 2 <= k <= MAX_DISTINCT, in the dtype of the result)
        with ``counts`` (k,) int64 (C-contiguous; each at most their sum, which the caller has
        checked); written into ``out`` where given (C-contiguous, (counts.sum(),), the dtype of
        ``symbols``: the caller checks). One call of :func:`.rans_loops.decode_group` per group."""
        if not 2 <= len(counts) <= MAX_DISTINCT:
            raise ChunkCorrupt(f"chunk frequency table holds {len(counts)} symbols where its coder codes 2 to "
                               f"{MAX_DISTINCT}; the chunk is damaged")
        if out is None:
            out = np.empty(int(counts.sum()) if total is None else total, symbols.dtype)
        # what keeps fill_slots and decode_symbols inside their tables: every frequency >= 1,
        # their sum 2**PRECISION (tables of counts > 2**40 are refused when read, so this
        # holds for every table that reaches here; checked all the same, it is cheap)
        position = self._loops.decode_group(counts, symbols, self._states, self._words, self._position, self._freq,
                                            self._slot_info, self._slot_rank, out)
        if position == self._loops.NOT_NORMALISED:
            raise ChunkCorrupt("chunk frequency table does not normalise; the chunk is damaged")
        if position < 0:
            raise ChunkCorrupt("chunk rANS section ends before its last symbol; the chunk is damaged")
        self._position = position
        return out

    def finish(self) -> None:
        """Check that every word was read and every lane is back at its initial state."""
        if self._position != len(self._words) or not (self._states == STATE_LOW).all():
            raise ChunkCorrupt("chunk rANS section has data left after decoding or does not end where it "
                               "began; the chunk is damaged")
