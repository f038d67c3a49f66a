"""The per-symbol loops of the ratio mode's context coder (:mod:`.contexts`), written once as
plain Python: :mod:`.context_loops` compiles these same functions with numba; where numba does
not run, :mod:`.contexts` calls them as they are (exact, about 100x slower).

A band's quantised values are visited in the order the stream holds them: its coded zero
blocks (ZERO_BLOCK x ZERO_BLOCK coefficients of one slice) in block order (z, block row, block
column), each block's values row by row. A value's context is computed from what the decoder
already has at that point: a scratch copy of the band (padded to whole blocks, zeros where
nothing was decoded yet) holding the capped magnitudes (uint8: what a context reads) of the
values visited so far, and the band's parent (the band of
the same orientation one 2D level coarser, decoded before it). Every quantity is an integer,
so both sides get the same context for every value on every machine.

Context of the value at (z, y, x) (magnitudes capped at CAP, 0 outside the band or not yet
visited): the in-slice neighbours W (y, x-1), N (y-1, x), NW, NE, the previous slice's Z (z-1,
y, x) and the parent P (z, y // 2, x // 2):

    local = 2 W + 2 N + NW + NE + 2 Z   -> LOCAL_CLASSES classes by LOCAL_EDGES
    parent class: P = 0, 1, >= 2        -> PARENT_CLASSES classes
    context = local class * PARENT_CLASSES + parent class   (N_CONTEXTS in all)

Symbols: a value v is coded as its clip to [-(ALPHABET_HALF), ALPHABET_HALF], at index v +
ALPHABET_HALF of a table of ALPHABET = 2 ALPHABET_HALF + 1 frequencies; the values clipped
(|v| >= ALPHABET_HALF) send |v| - ALPHABET_HALF to an escape group of :mod:`.groups`. CAP <=
ALPHABET_HALF, so the clip never changes a context.

The rANS coder is :mod:`.rans_kernels`' (same states, words, PRECISION), with one table per
symbol chosen by its context: value i of a band on lane i % LANES, states carried from band to
band, bands encoded from the last to the first.
"""

from __future__ import annotations

import numpy as np

from .rans_kernels import LANES, PRECISION, STATE_LOW

ZERO_BLOCK = 4
#: magnitudes above this count as this in a context.
CAP = 15
#: symbols -ALPHABET_HALF .. ALPHABET_HALF (the ends also stand for larger magnitudes).
ALPHABET_HALF = 24
ALPHABET = 2 * ALPHABET_HALF + 1
#: local activity 2W + 2N + NW + NE + 2Z (0 .. 8 CAP) is cut at these edges (class j: edge j
#: <= activity < edge j+1).
LOCAL_EDGES = (0, 1, 2, 3, 4, 6, 8, 11, 15, 21, 30, 45)
LOCAL_CLASSES = len(LOCAL_EDGES)
PARENT_CLASSES = 3
N_CONTEXTS = LOCAL_CLASSES * PARENT_CLASSES
_MASK = (1 << PRECISION) - 1
#: the decoder's guess tables split the 2**PRECISION slots into 2**GUESS_BITS slices.
GUESS_BITS = 8
_GUESS_SHIFT = PRECISION - GUESS_BITS
_RENORM_SHIFT = 32 - PRECISION


def class_table():
    """The local class of each activity 0 .. 8 CAP (LOCAL_EDGES as a lookup table), int64."""
    table = np.zeros(8 * CAP + 1, np.int64)
    for activity in range(len(table)):
        cls = 0
        while cls + 1 < len(LOCAL_EDGES) and activity >= LOCAL_EDGES[cls + 1]:
            cls += 1
        table[activity] = cls
    return table


def guess_table(cumulative, guesses):
    """``guesses`` (n, 2**GUESS_BITS) int64 of tables with running sums ``cumulative`` (n,
    ALPHABET + 1) int64 (0 .. 2**PRECISION, non-decreasing): entry j of table t is the last
    symbol a with cumulative[t, a] <= j * 2**(PRECISION - GUESS_BITS)."""
    for t in range(cumulative.shape[0]):
        a = 0
        for j in range(1 << GUESS_BITS):
            while cumulative[t, a + 1] <= j << _GUESS_SHIFT:
                a += 1
            guesses[t, j] = a


def _capped(v):
    a = v if v >= 0 else -v
    return a if a < CAP else CAP


def _context(band, z, y, x, parent, has_parent, classes):
    """The context (0 .. N_CONTEXTS - 1) of the value at (z, y, x) of a band whose scratch copy
    ``band`` holds its capped magnitude (:func:`_capped`) at (z + 1, y + 1, x + 1) (a border of
    zeros before each axis and one more column after: no bounds tests); ``parent``: the parent
    band's scratch copy, read where ``has_parent``; ``classes``: :func:`class_table`."""
    zi = z + 1
    yi = y + 1
    xi = x + 1
    local = (2 * band[zi, yi, xi - 1] + 2 * band[zi, yi - 1, xi] + band[zi, yi - 1, xi - 1] + band[zi, yi - 1, xi + 1]
             + 2 * band[zi - 1, yi, xi])
    p = 0
    if has_parent:
        p = parent[zi, (y >> 1) + 1, (x >> 1) + 1]
        if p > PARENT_CLASSES - 1:
            p = PARENT_CLASSES - 1
    return classes[local] * PARENT_CLASSES + p


def band_contexts(flags, values, band, parent, has_parent, classes, contexts):
    """Encoder: the context of each value of a band into ``contexts`` (n,) int64, with the
    band's coded-block ``flags`` (n_blocks,) int8/uint8 and their ``values`` (n,) int32 in block
    order; ``band``: the zero scratch copy (nz + 1, by * ZERO_BLOCK + 1, bx * ZERO_BLOCK + 2)
    uint8, filled with the values' capped magnitudes (as the decoder fills it)."""
    nz = band.shape[0] - 1
    by = (band.shape[1] - 1) // ZERO_BLOCK
    bx = (band.shape[2] - 2) // ZERO_BLOCK
    i = 0
    block = 0
    for z in range(nz):
        for row in range(by):
            for col in range(bx):
                if flags[block]:
                    for r in range(ZERO_BLOCK):
                        y = row * ZERO_BLOCK + r
                        for c in range(ZERO_BLOCK):
                            x = col * ZERO_BLOCK + c
                            contexts[i] = _context(band, z, y, x, parent, has_parent, classes)
                            band[z + 1, y + 1, x + 1] = _capped(values[i])
                            i += 1
                block += 1
    return i


def fill_band(flags, values, band):
    """The scratch copy ``band`` (as :func:`band_contexts`) of a band's coded ``values`` (any
    integer dtype, block order, ``flags`` (n_blocks,)), with no contexts (a band coded in one
    group whose values only its children's contexts read)."""
    nz = band.shape[0] - 1
    by = (band.shape[1] - 1) // ZERO_BLOCK
    bx = (band.shape[2] - 2) // ZERO_BLOCK
    i = 0
    block = 0
    for z in range(nz):
        for row in range(by):
            for col in range(bx):
                if flags[block]:
                    for r in range(ZERO_BLOCK):
                        for c in range(ZERO_BLOCK):
                            band[z + 1, row * ZERO_BLOCK + r + 1, col * ZERO_BLOCK + c + 1] = _capped(values[i])
                            i += 1
                block += 1
    return i


def encode_symbols(values, contexts, table_of_context, freq, start, states, words, n_words):
    """Code ``values`` (n,) int32 (band values, clipped here to +-ALPHABET_HALF: alphabet index
    v + ALPHABET_HALF) from the last to the first, value i on lane i % LANES with the table
    ``table_of_context[contexts[i]]`` (rows of ``freq`` and ``start``, (n_tables, ALPHABET) int64,
    each row's freq summing to 2**PRECISION, >= 1 where a code occurs); pushes uint16 words onto
    ``words`` from ``n_words``; returns the new count."""
    for i in range(len(values) - 1, -1, -1):
        lane = i % LANES
        x = states[lane]
        t = table_of_context[contexts[i]]
        v = values[i]
        if v > ALPHABET_HALF:
            v = ALPHABET_HALF
        elif v < -ALPHABET_HALF:
            v = -ALPHABET_HALF
        code = v + ALPHABET_HALF
        f = freq[t, code]
        if x >= f << _RENORM_SHIFT:
            words[n_words] = x & 0xFFFF
            n_words += 1
            x >>= 16
        states[lane] = ((x // f) << PRECISION) + x % f + start[t, code]
    return n_words


def band_histogram(flags, values, band, parent, has_parent, classes, contexts, hist, big):
    """Encoder, one pass over a band: :func:`band_contexts` (``contexts`` (n,) uint8 or any
    integer dtype), the counts ``hist`` (N_CONTEXTS, ALPHABET) int64 (zeros on entry) of each
    (context, clipped value + ALPHABET_HALF), and the values of magnitude >= ALPHABET_HALF in
    value order into ``big`` (n,) int32. Returns how many went to ``big``."""
    nz = band.shape[0] - 1
    by = (band.shape[1] - 1) // ZERO_BLOCK
    bx = (band.shape[2] - 2) // ZERO_BLOCK
    i = 0
    n_big = 0
    block = 0
    for z in range(nz):
        for row in range(by):
            for col in range(bx):
                if flags[block]:
                    for r in range(ZERO_BLOCK):
                        y = row * ZERO_BLOCK + r
                        for c in range(ZERO_BLOCK):
                            x = col * ZERO_BLOCK + c
                            ctx = _context(band, z, y, x, parent, has_parent, classes)
                            contexts[i] = ctx
                            v = values[i]
                            band[z + 1, y + 1, x + 1] = _capped(v)
                            if v >= ALPHABET_HALF:
                                big[n_big] = v
                                n_big += 1
                                v = ALPHABET_HALF
                            elif v <= -ALPHABET_HALF:
                                big[n_big] = v
                                n_big += 1
                                v = -ALPHABET_HALF
                            hist[ctx, v + ALPHABET_HALF] += 1
                            i += 1
                block += 1
    return n_big


def band_costs(hist, cost, cost_of_freq, freq, own, best, model_bits):
    """Encoder: per context c of a band's counts ``hist`` (C, ALPHABET) int64, its own table
    ``freq[c]`` (the counts normalised to 2**PRECISION as :func:`.rans.normalized_frequencies`:
    1 each plus the share of the rest rounded down, the slots left to the largest remainders,
    the lower symbol first; zeros for absent symbols), ``own[c]``: the bits in 1/2**16 bit of
    the counts at those frequencies plus the table's bytes (8 header bits, 16-24 per entry as
    :func:`.estimate_loops.table_entry_bits`), ``best[c]``: the first of the model's tables (cost
    (K, ALPHABET) int64, 1/2**16 bit per symbol; K may be 0) of the fewest bits, and
    ``model_bits[c]`` those bits. ``cost_of_freq`` (2**PRECISION + 1,) int64: the cost of each
    frequency. Integers only: the same results everywhere."""
    n_ctx = hist.shape[0]
    n_sym = hist.shape[1]
    remainder = np.empty(n_sym, np.int64)
    for c in range(n_ctx):
        n_present = 0
        total = 0
        for a in range(n_sym):
            if hist[c, a] > 0:
                n_present += 1
                total += hist[c, a]
        spare = (1 << PRECISION) - n_present
        assigned = 0
        for a in range(n_sym):
            h = hist[c, a]
            if h > 0:
                scaled = h * spare
                f = 1 + scaled // total
                freq[c, a] = f
                remainder[a] = scaled % total
                assigned += f
            else:
                freq[c, a] = 0
                remainder[a] = -1
        left = (1 << PRECISION) - assigned if total > 0 else 0
        for _ in range(left):
            pick = -1
            for a in range(n_sym):
                if remainder[a] >= 0 and (pick < 0 or remainder[a] > remainder[pick]):
                    pick = a
            freq[c, pick] += 1
            remainder[pick] = -1
        bits = 0
        table = 8
        for a in range(n_sym):
            f = freq[c, a]
            if f > 0:
                bits += hist[c, a] * cost_of_freq[f]
                extra = 2
                limit = 128
                while f >= limit:
                    extra += 1
                    limit <<= 7
                table += 8 * extra
        own[c] = bits + (table << 16)
        best[c] = 0
        model_bits[c] = 0
        for k in range(cost.shape[0]):
            s = 0
            for a in range(n_sym):
                s += hist[c, a] * cost[k, a]
            if k == 0 or s < model_bits[c]:
                best[c] = k
                model_bits[c] = s


def choose_tables(hist, own, best, model_bits, has_model, stream_room, selectors):
    """Encoder: each context's selector into ``selectors`` (C,) int64 from :func:`band_costs`'
    ``own``, ``best`` and ``model_bits`` of the counts ``hist`` (C, ALPHABET): 0 where the
    context does not occur, 2 + best where the model (``has_model``) codes it in no more bits
    than a table of its own, else 1 (a table in the stream). Where that asks for more than
    ``stream_room`` stream tables, every occurring context takes its model table (without a
    model: returns (-1, 0), the band is not context coded). Returns (the chosen tables' bits in
    1/2**16 bit, the number of stream tables)."""
    n_ctx = hist.shape[0]
    chosen = 0
    n_stream = 0
    for c in range(n_ctx):
        total = 0
        for a in range(hist.shape[1]):
            total += hist[c, a]
        if total == 0:
            selectors[c] = 0
        elif has_model and model_bits[c] <= own[c]:
            selectors[c] = 2 + best[c]
            chosen += model_bits[c]
        else:
            selectors[c] = 1
            chosen += own[c]
            n_stream += 1
    if n_stream > stream_room:
        if not has_model:
            return -1, 0
        chosen = 0
        for c in range(n_ctx):
            if selectors[c] != 0:
                selectors[c] = 2 + best[c]
                chosen += model_bits[c]
        n_stream = 0
    return chosen, n_stream


def decode_band(flags, band, parent, has_parent, classes, table_of_context, cumulative, guesses, states, words,
                position, out):
    """Decoder: the values of a band's coded blocks (``flags`` (n_blocks,) uint8) in block order
    into ``out`` (n,) int32 as clipped symbols (-ALPHABET_HALF .. ALPHABET_HALF), filling the
    scratch ``band`` (zeros, as :func:`band_contexts`) on the way; ``cumulative`` (n_tables,
    ALPHABET + 1) int64: each table's running sums of its frequencies (0 .. 2**PRECISION),
    ``guesses`` (n_tables, GUESSES) int64: per table, the symbol whose range holds the first slot
    of each of GUESSES equal slices of the slots (:func:`guess_table`), ``table_of_context``
    (N_CONTEXTS,) int64 their rows (-1: none). A symbol is found from the guess of its slot's
    slice by a scan up the sums (mostly none or one step: these small tables stay in cache,
    where slot lookup tables of 2**PRECISION entries per table, one per context, did not and
    took 5x as long; a binary search over the sums took 1.5-2x as long). Returns the next word
    position, -1 where the words ran out or -2 where a context without a table occurs (a
    damaged stream)."""
    nz = band.shape[0] - 1
    by = (band.shape[1] - 1) // ZERO_BLOCK
    bx = (band.shape[2] - 2) // ZERO_BLOCK
    n_words = len(words)
    pos = position
    i = 0
    block = 0
    for z in range(nz):
        for row in range(by):
            for col in range(bx):
                if flags[block]:
                    for r in range(ZERO_BLOCK):
                        y = row * ZERO_BLOCK + r
                        for c in range(ZERO_BLOCK):
                            x = col * ZERO_BLOCK + c
                            t = table_of_context[_context(band, z, y, x, parent, has_parent, classes)]
                            if t < 0:
                                return -2
                            lane = i % LANES
                            s = states[lane]
                            slot = s & _MASK
                            lo = guesses[t, slot >> _GUESS_SHIFT]  # cumulative[t, lo] <= slot
                            while cumulative[t, lo + 1] <= slot:
                                lo += 1
                            start = cumulative[t, lo]
                            s = (cumulative[t, lo + 1] - start) * (s >> PRECISION) + slot - start
                            if s < STATE_LOW:
                                if pos >= n_words:
                                    return -1
                                s = (s << 16) | words[pos]
                                pos += 1
                            states[lane] = s
                            value = lo - ALPHABET_HALF
                            out[i] = value
                            band[z + 1, y + 1, x + 1] = _capped(value)
                            i += 1
                block += 1
    return pos
