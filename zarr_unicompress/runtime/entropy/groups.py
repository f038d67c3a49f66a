"""Entropy coding of integer symbol groups with integer frequency tables.

Each group of symbols (codebook indices, quantised residuals of one context class, or a
band's block flags and values) gets a sparse integer frequency table that is stored in the
stream. The coder builds its model from those integers alone, so encoder and decoder use the
same model bit for bit on every machine: no float network result is ever an input to the
entropy coder. The coder is :mod:`.rans` (streams with FLAG_RANS, v0.4.0 on) or
constriction's ANS (earlier streams; chunks whose tables suit rANS badly).

Table section layout: ``n_groups`` varint, then per group ``n_distinct`` varint followed by
``n_distinct`` pairs (zigzag delta of the symbol from the previous one, count), all LEB128
varints (written and read by the loops of :mod:`.table_kernels`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import constriction
import numpy as np

from ...errors import ChunkCorrupt, UnsupportedInput
from .. import numba_support
from . import rans
from . import table_kernels

#: the most symbol groups a stream may hold: the 3D ratio coder writes 2 per band, (z levels + 1)
#: x (1 + 3 x levels) bands, i.e. up to 128.
_MAX_GROUPS = 256


@dataclass(frozen=True)
class FrequencyTable:
    """Distinct symbols (int64, ascending) and their counts (int64, > 0)."""

    symbols: np.ndarray
    counts: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def model(self) -> constriction.stream.model.Categorical:
        return constriction.stream.model.Categorical(self.counts.astype(np.float64), perfect=False)


@functools.cache
def _integer_limits(dtype: Any) -> tuple[int, int]:
    """(min, max) of an integer dtype (``np.iinfo`` builds an object per call: 1-2 us of the
    GIL each, dozens of times per chunk)."""
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


_BINCOUNT_SPAN = 1 << 20  # value spans up to this are counted by a histogram, wider ones sorted (np.unique)


def symbol_counts(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a 1D integer array (ascending, int64) and their counts (int64): the
    frequency table of :func:`_table_and_codes`."""
    table = _table_and_codes(flat)[0]
    return table.symbols, table.counts


class EntropyCoded(NamedTuple):
    """Sections of entropy-coded symbol groups (what :class:`GroupDecoder` takes)."""

    tables: bytes  #: the frequency-table section
    words: bytes  #: the word section
    uses_rans: bool  #: the words are :mod:`.rans`'s (FLAG_RANS), else constriction's ANS


def encode_groups(groups: list[np.ndarray], allow_rans: bool = True) -> EntropyCoded:
    """Entropy-code integer arrays with :mod:`.rans` where ``allow_rans`` and their tables
    suit it (:func:`.rans.frequencies_if_affordable`), else with constriction's ANS (as
    streams before v0.4.0 were coded).

    The groups are decoded in list order by :class:`GroupDecoder`; both coders code them in
    reverse.
    """
    coded = [_table_and_codes(np.asarray(group).ravel()) for group in groups]
    tables = [table for table, _, _, _ in coded]
    frequencies = rans.frequencies_if_affordable([table.counts for table in tables]) if allow_rans else None
    if frequencies is not None:
        words = rans.encode_words([(codes, base, offsets) for _, codes, base, offsets in coded], frequencies)
        return EntropyCoded(_pack_tables(tables), words, True)
    coder = constriction.stream.stack.AnsCoder()
    for table, codes, base, offsets in reversed(coded):
        if len(table.symbols) > 1:
            rank_of_offset = np.zeros(int(offsets[-1]) + 1, np.int32)
            rank_of_offset[offsets] = np.arange(len(offsets), dtype=np.int32)
            coder.encode_reverse(rank_of_offset[codes.astype(np.int64) - base], table.model())
    words = coder.get_compressed().astype("<u4").tobytes()
    return EntropyCoded(_pack_tables(tables), words, False)


def _table_and_codes(flat: np.ndarray) -> tuple[FrequencyTable, np.ndarray, int, np.ndarray]:
    """Frequency table of a 1D integer array with the codes the coder reads: (table, codes
    (n,), base, offsets (k,) int64 ascending), symbol r of the table having code ``base +
    offsets[r]``. The codes are the values themselves (base: the smallest) where they span
    less than _BINCOUNT_SPAN, else their ranks (int32, base 0). The range and histogram by
    the loops of :mod:`.table_loops` (integer dtypes up to 64-bit signed; uint64 arrays take
    the ranks)."""
    if flat.size == 0:
        return FrequencyTable(np.empty(0, np.int64), np.empty(0, np.int64)), flat, 0, np.empty(0, np.int64)
    if not flat.dtype.isnative:  # the loops read native byte order
        flat = flat.astype(flat.dtype.newbyteorder("="))
    if flat.dtype.kind == "b":
        flat = flat.view(np.uint8)
    compiled = numba_support.loops("entropy.table_loops")
    wide = flat.dtype.kind == "u" and flat.dtype.itemsize == 8  # beyond the loops' int64
    lo, hi = (0, 0) if wide else (int(v) for v in compiled.value_range(flat))
    if wide or hi - lo >= _BINCOUNT_SPAN:
        symbols, counts = np.unique(flat, return_counts=True)
        table = FrequencyTable(symbols.astype(np.int64), counts.astype(np.int64))
        ranks = np.searchsorted(table.symbols, flat).astype(np.int32)
        return table, ranks, 0, np.arange(len(table.symbols), dtype=np.int64)
    counts = compiled.histogram(flat, lo, hi - lo + 1)
    present = np.flatnonzero(counts)
    table = FrequencyTable((present + lo).astype(np.int64), counts[present].astype(np.int64))
    return table, flat, lo, present.astype(np.int64)


class GroupDecoder:
    """Decodes the groups written by :func:`encode_groups`, one at a time, in order.

    Each :meth:`next` call names how many symbols the caller expects from the chunk header
    (or from groups already decoded); a table that disagrees raises :class:`ChunkCorrupt`
    before anything of that size is allocated.
    """

    def __init__(self, table_bytes: bytes, word_bytes: bytes, uses_rans: bool = False) -> None:
        """``uses_rans``: the words are :mod:`.rans`'s (streams with FLAG_RANS), else
        constriction's ANS."""
        self._tables = _unpack_tables(table_bytes)
        self._next = 0
        self._rans: rans.RansReader | None = None
        self._coder = None
        if uses_rans:
            self._rans = rans.RansReader(word_bytes)
            return
        if len(word_bytes) % 4:
            raise ChunkCorrupt("chunk entropy-coded section is not a whole number of 32-bit words")
        words = np.frombuffer(word_bytes, dtype="<u4").astype(np.uint32)
        self._coder = constriction.stream.stack.AnsCoder(words)

    @property
    def n_groups(self) -> int:
        return len(self._tables)

    def next(self, expected_total: int, dtype: type = np.int64, magnitude_limit: int | None = None,
             out: np.ndarray | None = None) -> np.ndarray:
        """Decode the next group; it must hold exactly ``expected_total`` symbols.

        Returns (n,) of ``dtype``: ``out`` where given (a C-contiguous (n,) array of ``dtype``,
        e.g. a slice of a buffer that holds several groups), else a new array. A table whose
        symbols reach ``magnitude_limit`` in absolute value (or do not fit ``dtype``) raises
        :class:`ChunkCorrupt` before decoding.
        """
        if out is not None and (out.shape != (expected_total,) or out.dtype != np.dtype(dtype)
                                or not out.flags.c_contiguous or not out.flags.writeable):
            raise ValueError(f"out must be a writeable C-contiguous ({expected_total},) {np.dtype(dtype)} array, "
                             f"got {out.shape} {out.dtype}")
        if self._next >= len(self._tables):
            raise ChunkCorrupt("chunk has fewer symbol groups than its header implies; it is damaged")
        table = self._tables[self._next]
        self._next += 1
        total = table.total  # a sum of the counts: once per group
        if total != expected_total:
            raise ChunkCorrupt(
                f"chunk frequency table counts {total} symbols where {expected_total} are "
                "expected; the chunk is damaged"
            )
        symbols = table.symbols
        if len(symbols):
            smallest, largest = _integer_limits(dtype)
            lo, hi = int(symbols[0]), int(symbols[-1])
            bound = magnitude_limit if magnitude_limit is not None else largest + 1
            if lo < max(smallest, -bound + 1) or hi > min(largest, bound - 1):
                raise ChunkCorrupt(f"chunk holds symbols in [{lo}, {hi}], outside what its section allows; "
                                   "the chunk is damaged")
        symbols = symbols.astype(dtype)
        if len(symbols) == 0:
            return np.empty(0, dtype=dtype) if out is None else out
        if len(symbols) == 1:
            if out is None:
                return np.full(total, symbols[0], dtype=dtype)
            out.fill(symbols[0])
            return out
        if self._rans is not None:
            return self._rans.decode(table.counts, symbols, out, expected_total)
        try:
            ranks = self._coder.decode(table.model(), total)
        except (ValueError, RuntimeError) as exc:
            raise ChunkCorrupt(f"chunk entropy-coded section does not decode: {exc}") from None
        if int(symbols[-1]) - int(symbols[0]) + 1 == len(symbols):  # contiguous: no gather needed
            # a rank may exceed a narrow dtype (ranks 0..200 of symbols -100..100 in int8): the
            # cast and the add wrap modulo 2**bits, and the sum, a symbol, fits the dtype
            values = ranks.astype(dtype, copy=False)
            values += symbols[0]
        else:
            values = symbols[ranks]
        if out is None:
            return values
        out[:] = values
        return out

    def next_narrow(self, expected_total: int) -> np.ndarray:
        """:meth:`next` in the narrowest signed integer dtype (int8 .. int64) that holds the
        group's symbols (less memory to move for the quantised coefficients, which mostly fit
        int8)."""
        if self._next < len(self._tables) and len(symbols := self._tables[self._next].symbols):
            lo, hi = int(symbols[0]), int(symbols[-1])
            for dtype in (np.int8, np.int16, np.int32):
                largest = _integer_limits(dtype)[1]
                if -largest <= lo and hi <= largest:  # :meth:`next` bounds magnitudes symmetrically
                    return self.next(expected_total, dtype=dtype)
        return self.next(expected_total)

    def finish(self) -> None:
        """Check that every group and every word was consumed."""
        if self._next != len(self._tables) or (self._rans is None and not self._coder.is_empty()):
            raise ChunkCorrupt("chunk entropy-coded section has data left after decoding; it is damaged")
        if self._rans is not None:
            self._rans.finish()


def _pack_tables(tables: list[FrequencyTable]) -> bytes:
    """The table section of ``tables`` (:mod:`.table_kernels` lays it out)."""
    sizes = [len(table.symbols) for table in tables]
    group_starts = np.zeros(len(tables) + 1, np.int64)
    np.cumsum(sizes, out=group_starts[1:])
    symbols = np.concatenate([table.symbols for table in tables]) if tables else np.empty(0, np.int64)
    counts = np.concatenate([table.counts for table in tables]) if tables else np.empty(0, np.int64)
    limit = table_kernels.MAX_MAGNITUDE
    if len(symbols) and (int(np.abs(symbols).max()) > limit or int(counts.max()) > limit):
        raise UnsupportedInput(f"symbol values or counts beyond 2**40 cannot be entropy coded (the reader "
                               f"refuses them); got symbols in [{int(symbols.min())}, {int(symbols.max())}]")
    out = np.empty(10 * (2 + len(tables) + 2 * len(symbols)), np.uint8)  # 10 bytes per varint at most
    return out[: numba_support.loops("entropy.table_loops").pack_tables(group_starts, symbols, counts, out)].tobytes()


_TABLE_ERRORS = {
    table_kernels.TOO_MANY_GROUPS: f"chunk declares more than {_MAX_GROUPS} symbol groups; it is damaged",
    table_kernels.TOO_MANY_SYMBOLS: "chunk frequency table declares more symbols than its section holds; "
                                    "the chunk is damaged",
    table_kernels.ENDS_INSIDE_A_NUMBER: "chunk frequency-table section ends inside a number (or holds one of "
                                        f"more than {table_kernels.MAX_VARINT_BYTES} bytes); it is truncated or damaged",
    table_kernels.NOT_SORTED_OR_ZERO_COUNT: "chunk frequency table is not sorted, has a zero count or a value "
                                            "beyond 2**40; it is damaged",
    table_kernels.TRAILING_BYTES: "chunk frequency-table section has trailing bytes; it is damaged",
}


def _unpack_tables(data: bytes) -> list[FrequencyTable]:
    """The frequency tables of a table section (views into two arrays); raises
    :class:`ChunkCorrupt` for a damaged section."""
    raw = np.frombuffer(data, np.uint8)  # bytes, whatever the buffer's item type
    group_starts = np.zeros(_MAX_GROUPS + 1, np.int64)
    capacity = raw.size // 2  # an entry takes two bytes at least
    symbols, counts = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
    n_groups, error = numba_support.loops("entropy.table_loops").parse_tables(raw, _MAX_GROUPS, group_starts, symbols,
                                                                              counts)
    if error:
        raise ChunkCorrupt(_TABLE_ERRORS[error])
    return [FrequencyTable(symbols[group_starts[g]:group_starts[g + 1]], counts[group_starts[g]:group_starts[g + 1]])
            for g in range(n_groups)]
