"""Context coding of the ratio mode's quantised bands (coder 3, :mod:`..coders.ratio_ctx`).

Each band's coded-block values are coded either as one group with a table in the stream (as
coders 0 and 2 code them: "mode 0") or ("mode 1") value by value, each with the table of its
context (:mod:`.context_kernels`: the quantised magnitudes of its causal neighbours W, N, NW,
NE, of the previous slice and of the parent band): per (band, context), the encoder chooses
the table that costs the fewest bits, counted exactly from the band's histogram:

- one of the K tables of the per-array model (:mod:`.context_tables`: no table bytes), or
- a table of its own in the stream (its normalised frequencies, :mod:`.groups`' table layout).

The choice per band (mode 0 or 1) is made the same way, so a band never costs more than its
mode-0 group by more than the estimates' error. Everything that decides is integer or
:mod:`.estimate_bits`' deterministic float arithmetic: the same stream on every machine.

Stream pieces (see :mod:`..coders.ratio_ctx` for where they lie):
- ordinary groups (:mod:`.groups`): the band modes (n_bands,) 0/1, then the selectors
  (N_CONTEXTS per mode-1 band: 0 no table (the context does not occur), 1 the next table of
  the context-table section, 2 + k table k of the model), then per band its zero-block flags
  and its values (mode 0) or its escapes (mode 1: |v| - ALPHABET_HALF of each value whose
  symbol is +-ALPHABET_HALF, in value order);
- the context-table section: the stream tables in (band, context) order;
- the context words: one interleaved rANS stream (:mod:`.rans_kernels`' states and words) of
  the mode-1 bands' symbols.
"""

from __future__ import annotations

import functools
import struct
from typing import NamedTuple

import numpy as np

from ...errors import ChunkCorrupt
from .. import numba_support, side_blob
from ..inr.model import RuntimeModel
from . import context_kernels
from .context_kernels import ALPHABET, ALPHABET_HALF, N_CONTEXTS, ZERO_BLOCK, class_table
from .context_tables import META_KEY, ContextTables, decode_meta
from .groups import FrequencyTable, _pack_tables, _unpack_tables, symbol_counts
from .rans_kernels import LANES, PRECISION, STATE_LOW

_CLASSES = class_table()
_STATES = struct.Struct(f"<{LANES}I")
#: bits a selector is counted at when the encoder chooses a band's mode (selectors are one
#: group of small integers: a few bits each).
SELECTOR_BITS = 3.0
#: the largest escape (|v| - ALPHABET_HALF) a stream may hold: quantised values stay < 2**30.
MAX_ESCAPE = 1 << 30
#: the most tables of its own a chunk may hold (the table layout of :mod:`.groups` reads at
#: most this many); further contexts take a model table, or their band mode 0.
MAX_STREAM_TABLES = 256
_FIX = 1 << 16  # costs in 1/65536 bit


@functools.cache
def cost_of_freq() -> np.ndarray:
    """-log2(f / 2**PRECISION) in 1/65536 bit for f = 0 .. 2**PRECISION, (2**PRECISION + 1,)
    int64 (index 0 unused), by the estimate loops' log2 (the same on every machine, so the
    encoder's choices and thus its streams are too)."""
    log2 = numba_support.loops("entropy.estimate_loops").log2
    bits = [round((PRECISION - log2(float(f))) * _FIX) for f in range(1, (1 << PRECISION) + 1)]
    return np.array([0, *bits], np.int64)


def kernels():
    """The compiled loops where numba runs, else the plain ones (same results)."""
    return numba_support.loops("entropy.context_loops")


@functools.cache
def default_tables() -> ContextTables:
    """The shipped default tables (parsed once)."""
    from ...default_model import default_ratio_tables_blob

    return ContextTables.from_bytes(default_ratio_tables_blob())


_by_digest: dict[str, ContextTables] = {}


def tables_of(model: RuntimeModel) -> ContextTables:
    """The ratio tables of ``model`` (its own under META_KEY, else the default), once per blob."""
    return side_blob.part_of(model, META_KEY, decode_meta, default_tables, _by_digest)


def scratch_band(shape: tuple[int, int, int]) -> np.ndarray:
    """The zero scratch copy of a band of ``shape`` (z, y, x): (z + 1, by * ZERO_BLOCK + 1, bx *
    ZERO_BLOCK + 2) uint8 (the values' magnitudes capped at CAP), the band at offset (1, 1, 1)
    (:mod:`.context_kernels`)."""
    z, y, x = shape
    return np.zeros((z + 1, -(-y // ZERO_BLOCK) * ZERO_BLOCK + 1, -(-x // ZERO_BLOCK) * ZERO_BLOCK + 2), np.uint8)


_NO_PARENT = np.zeros((1, 1, 1), np.uint8)


def _parent_or_none(scratch: np.ndarray, parent: np.ndarray | None) -> np.ndarray:
    """``parent`` checked to cover every position the band of ``scratch`` reads in it."""
    if parent is None:
        return _NO_PARENT
    if (parent.shape[0] != scratch.shape[0] or 2 * (parent.shape[1] - 1) < scratch.shape[1] - 1
            or 2 * (parent.shape[2] - 2) < scratch.shape[2] - 2):
        raise AssertionError(f"parent scratch {parent.shape} does not cover band scratch {scratch.shape}")
    return parent


def fill_scratch(flags: np.ndarray, values: np.ndarray, scratch: np.ndarray, parent: np.ndarray | None) -> np.ndarray:
    """Contexts (n,) int64 of a band's coded values ``values`` (n,) int32 in block order (coded
    blocks ``flags`` (n_blocks,) int8/uint8), filling ``scratch`` (:func:`scratch_band`) with them;
    ``parent``: the parent band's scratch, or None."""
    contexts = np.empty(len(values), np.int64)
    kernels().band_contexts(flags, np.ascontiguousarray(values, np.int32), scratch,
                            _parent_or_none(scratch, parent), parent is not None, _CLASSES, contexts)
    return contexts


def fill_values(flags: np.ndarray, values: np.ndarray, scratch: np.ndarray) -> None:
    """``scratch`` (:func:`scratch_band`) filled with a band's coded ``values`` (block order)."""
    kernels().fill_band(flags, values, scratch)


class _BandChoice(NamedTuple):
    values: np.ndarray  # (n,) int32 (clipped to +-ALPHABET_HALF when coded)
    contexts: np.ndarray  # (n,) uint8
    selectors: np.ndarray  # (N_CONTEXTS,) int64
    stream_tables: list[np.ndarray]  # frequencies (ALPHABET,) int64 of the selectors 1, in context order
    escapes: np.ndarray  # (m,) int64


class ContextEncoder:
    """Chooses and codes the bands of one chunk; ``tables``: the model's, or None (stream
    tables only: the ablation without the model's tables)."""

    def __init__(self, tables: ContextTables | None, enabled: bool = True) -> None:
        """``enabled``: False codes every band in mode 0 (the ablation without the learned part)."""
        self.tables = tables
        self._enabled = enabled
        self._cost = cost_of_freq()[tables.freq] if tables is not None else np.zeros((0, ALPHABET), np.int64)
        self.modes: list[int] = []
        self._chosen: list[_BandChoice] = []
        self._scratch: list[np.ndarray] = []
        self._n_stream = 0

    def add_band(self, flags: np.ndarray, values: np.ndarray, shape: tuple[int, int, int],
                 parent: int | None) -> np.ndarray:
        """Take the next band (coding order): its zero-block ``flags`` and coded ``values``
        (int32, block order), its ``shape`` and the index of its parent band (or None). Returns
        the group the ordinary stream codes after its flags: its values (mode 0) or its escapes
        (mode 1)."""
        values = np.ascontiguousarray(values, np.int32)
        scratch = scratch_band(shape)
        self._scratch.append(scratch)
        if not len(values) or not self._enabled:
            kernels().fill_band(flags, values, scratch)
            self.modes.append(0)
            return values
        parent_scratch = None if parent is None else self._scratch[parent]
        contexts = np.empty(len(values), np.uint8)
        hist = np.zeros((N_CONTEXTS, ALPHABET), np.int64)
        big = np.empty(len(values), np.int32)
        n_big = kernels().band_histogram(flags, values, scratch, _parent_or_none(scratch, parent_scratch),
                                         parent is not None, _CLASSES, contexts, hist, big)
        freq = np.empty_like(hist)
        own, best, model_bits, selectors = (np.empty(N_CONTEXTS, np.int64) for _ in range(4))
        kernels().band_costs(hist, self._cost, cost_of_freq(), freq, own, best, model_bits)
        # per context a model table or one of its own (the fewest bits, in 1/_FIX bit: integers,
        # the same sums everywhere), within the stream's room for tables
        chosen, n_stream = kernels().choose_tables(hist, own, best, model_bits, self.tables is not None,
                                                   MAX_STREAM_TABLES - self._n_stream, selectors)
        if chosen < 0:
            self.modes.append(0)
            return values
        bits = SELECTOR_BITS * N_CONTEXTS + chosen / _FIX
        if n_big:
            big = big[:n_big]
            escapes = np.abs(big).astype(np.int64) - ALPHABET_HALF
            bits += _group_bits(symbol_counts(escapes)[1])
            mode_0 = _group_bits(_value_counts(hist, big))
        else:
            escapes = np.empty(0, np.int64)
            mode_0 = _group_bits(hist.sum(axis=0))
        if not bits < mode_0:
            self.modes.append(0)
            return values
        stream_tables = list(freq[selectors == 1]) if n_stream else []
        self.modes.append(1)
        self._n_stream += len(stream_tables)
        self._chosen.append(_BandChoice(values, contexts, selectors, stream_tables, escapes))
        return escapes

    @property
    def uses_model(self) -> bool:
        """Whether a selector names a model table (the stream then names the model's digest)."""
        return any(bool((c.selectors >= 2).any()) for c in self._chosen)

    def selectors(self) -> np.ndarray:
        """The selector group (N_CONTEXTS per mode-1 band), int64."""
        return np.concatenate([c.selectors for c in self._chosen]) if self._chosen else np.empty(0, np.int64)

    def finish(self) -> tuple[bytes, bytes]:
        """(context-table section, context words) of the mode-1 bands."""
        stream = [freq for c in self._chosen for freq in c.stream_tables]
        section = _pack_tables([FrequencyTable(np.flatnonzero(f).astype(np.int64), f[f > 0]) for f in stream])
        if not self._chosen:
            return section, b""
        model = self.tables.freq if self.tables is not None else np.zeros((0, ALPHABET), np.int64)
        freq = np.concatenate([model, np.array(stream, np.int64).reshape(-1, ALPHABET)])
        start = np.cumsum(freq, axis=1) - freq
        n_model = len(model)
        states = np.full(LANES, STATE_LOW, np.int64)
        words = np.empty(sum(len(c.values) for c in self._chosen) + LANES, np.uint16)
        n_words = 0
        first_stream = [n_model + sum(len(x.stream_tables) for x in self._chosen[:j]) for j in range(len(self._chosen))]
        for choice, at in zip(reversed(self._chosen), reversed(first_stream)):
            table_of_context = _table_rows(choice.selectors, at, n_model)
            n_words = kernels().encode_symbols(choice.values, choice.contexts, table_of_context, freq, start, states,
                                               words, n_words)
        return section, _STATES.pack(*(int(s) for s in states)) + words[:n_words][::-1].astype("<u2").tobytes()


def _group_bits(counts: np.ndarray) -> float:
    """:func:`.estimate_bits.group_bits` of ``counts`` (int64, zeros allowed), by the estimate
    loops' :func:`.estimate_loops.band_bits` (the same float64 operations in the same order)."""
    return float(numba_support.loops("entropy.estimate_loops").band_bits(counts, 1.0, 1.0))


def _value_counts(hist: np.ndarray, big: np.ndarray) -> np.ndarray:
    """Counts of a band's distinct values, ascending by value (what
    ``symbol_counts(values)[1]`` gives), from its (context, clipped value) counts ``hist``
    (N_CONTEXTS, ALPHABET) int64 and its values of magnitude >= ALPHABET_HALF ``big`` (int32);
    zero counts may remain (:func:`.estimate_bits.group_bits` drops them)."""
    clipped = hist.sum(axis=0)
    below, above = big[big < -ALPHABET_HALF], big[big > ALPHABET_HALF]
    clipped[0] -= len(below)
    clipped[-1] -= len(above)
    return np.concatenate([symbol_counts(below)[1], clipped, symbol_counts(above)[1]])


def _table_rows(selectors: np.ndarray, first_stream: int, n_model: int) -> np.ndarray:
    """Row of each context's table (N_CONTEXTS,) int64 among [model tables, stream tables]: -1
    for selector 0, the next stream table (from ``first_stream``) for 1, model table s - 2."""
    rows = np.where(selectors >= 2, selectors - 2, -1).astype(np.int64)
    own = np.flatnonzero(selectors == 1)
    rows[own] = first_stream + np.arange(len(own))
    return rows


class ContextDecoder:
    """Decodes the mode-1 bands of one chunk, in order (see the module docstring)."""

    def __init__(self, section: bytes, word_bytes: bytes, selectors: np.ndarray, tables: ContextTables | None) -> None:
        """``selectors`` (n_bands_mode1, N_CONTEXTS) int64 as decoded; ``tables``: the model's
        (None where the stream's digest does not name them: a selector >= 2 is then refused)."""
        n_model = 0 if tables is None else tables.n_tables
        if selectors.size and int(selectors.max()) > 1 + n_model:
            raise ChunkCorrupt(f"chunk names context table {int(selectors.max()) - 2} of a model of {n_model} "
                               "tables (or a model other than this array's); the chunk is damaged or belongs to "
                               "another array")
        stream = _unpack_tables(section)
        if len(stream) != int((selectors == 1).sum()):
            raise ChunkCorrupt(f"chunk holds {len(stream)} context tables where its selectors name "
                               f"{int((selectors == 1).sum())}; the chunk is damaged")
        for table in stream:  # (every table's sums must end at 2**PRECISION: the decoder's scan stops there)
            if not len(table.symbols) or table.symbols[0] < 0 or table.symbols[-1] >= ALPHABET \
                    or table.total != 1 << PRECISION:
                raise ChunkCorrupt("chunk context table is not a table of the context alphabet summing to "
                                   f"2**{PRECISION}; the chunk is damaged")
        used = np.unique(selectors[selectors >= 2]) - 2
        rows = {int(k): j for j, k in enumerate(used.tolist())}  # model table -> row
        freq = np.zeros((len(used) + len(stream), ALPHABET), np.int64)
        if len(used):
            freq[: len(used)] = tables.freq[used]
        for j, table in enumerate(stream):
            freq[len(used) + j, table.symbols] = table.counts
        self._cumulative = np.zeros((max(len(freq), 1), ALPHABET + 1), np.int64)
        np.cumsum(freq, axis=1, out=self._cumulative[: len(freq), 1:])
        self._cumulative[len(freq):, 1:] = 1 << PRECISION  # the spare row of a chunk without tables
        self._guesses = np.empty((len(self._cumulative), 1 << context_kernels.GUESS_BITS), np.int64)
        kernels().guess_table(self._cumulative, self._guesses)
        self._rows = []
        at = len(used)
        for band in selectors:
            mapped = np.full(N_CONTEXTS, -1, np.int64)
            model = band >= 2
            mapped[model] = [rows[int(s) - 2] for s in band[model]]
            own = np.flatnonzero(band == 1)
            mapped[own] = at + np.arange(len(own))
            at += len(own)
            self._rows.append(mapped)
        self._next = 0
        if not word_bytes:
            word_bytes = _STATES.pack(*[STATE_LOW] * LANES)
        if len(word_bytes) < _STATES.size or (len(word_bytes) - _STATES.size) % 2:
            raise ChunkCorrupt(f"chunk context words of {len(word_bytes)} bytes are not {_STATES.size} bytes of "
                               "states plus 16-bit words; the chunk is damaged")
        states = _STATES.unpack_from(word_bytes, 0)
        if not all(STATE_LOW <= s < STATE_LOW << 16 for s in states):
            raise ChunkCorrupt("chunk context words start with an impossible coder state; the chunk is damaged")
        self._states = np.array(states, np.int64)
        self._words = np.frombuffer(word_bytes, "<u2", offset=_STATES.size).astype(np.uint16)
        self._position = 0

    def next_band(self, flags: np.ndarray, scratch: np.ndarray, parent: np.ndarray | None, n: int) -> np.ndarray:
        """The next mode-1 band's ``n`` values (int32, block order, symbols clipped to
        +-ALPHABET_HALF), filling its ``scratch``; ``flags`` (n_blocks,) uint8."""
        if self._next >= len(self._rows):
            raise ChunkCorrupt("chunk has more context-coded bands than selectors; it is damaged")
        out = np.empty(n, np.int32)
        position = kernels().decode_band(flags, scratch, _parent_or_none(scratch, parent), parent is not None,
                                         _CLASSES, self._rows[self._next], self._cumulative, self._guesses,
                                         self._states, self._words, self._position, out)
        self._next += 1
        if position == -2:
            raise ChunkCorrupt("chunk codes a value in a context that has no table; the chunk is damaged")
        if position < 0:
            raise ChunkCorrupt("chunk context words end before the last value; the chunk is damaged")
        self._position = position
        return out

    def finish(self) -> None:
        """Check that every band and word was read and the lanes are back at their start."""
        if self._next != len(self._rows) or self._position != len(self._words) or not (self._states == STATE_LOW).all():
            raise ChunkCorrupt("chunk context words have data left after decoding or do not end where they "
                               "began; the chunk is damaged")
