"""The loops that write and read the frequency-table section (:mod:`.groups`), written once as
plain Python: :mod:`.table_loops` compiles these same functions with numba (no GIL, no
per-byte interpreter work: reading the tables was 16 % of a (16, 256, 256) ratio-mode decode);
where numba does not run, :mod:`.table_loops` hands them out as they are (see
:mod:`..numba_support`).

Layout: ``n_groups`` varint, then per group ``n_distinct`` varint followed by ``n_distinct``
pairs (zigzag delta of the symbol from the previous one, count), all LEB128 varints of at most
MAX_VARINT_BYTES bytes. Every value stays below 2**63 (int64 in numba, the same numbers in
CPython). Error codes (0: none) name what is wrong; :mod:`.groups` turns them into messages.
:mod:`.table_loops` compiles the helpers ``_read_varint`` and ``_write_varint`` too and hands
them to the compiled loops (this module imports no numba).
"""

from __future__ import annotations

#: a varint of more bytes is refused (9 x 7 = 63 bits: every value fits int64)
MAX_VARINT_BYTES = 9
#: symbols and counts of a table are at most this in magnitude (larger ones: a damaged stream)
MAX_MAGNITUDE = 1 << 40

TOO_MANY_GROUPS = 1
TOO_MANY_SYMBOLS = 2
ENDS_INSIDE_A_NUMBER = 3
NOT_SORTED_OR_ZERO_COUNT = 4
TRAILING_BYTES = 5


def parse_tables(data, max_groups, group_starts, symbols, counts):
    """Read a table section ``data`` (bytes-like of uint8) into ``symbols`` and ``counts``
    (each at least len(data) // 2 entries, int64): group g's entries are
    [group_starts[g], group_starts[g + 1]) (``group_starts`` max_groups + 1 entries).
    Returns (number of groups, error code)."""
    n_groups, pos = _read_varint(data, 0)
    if pos < 0:
        return 0, ENDS_INSIDE_A_NUMBER
    if n_groups > max_groups:
        return 0, TOO_MANY_GROUPS
    at = 0
    group_starts[0] = 0
    for g in range(n_groups):
        n, pos = _read_varint(data, pos)
        if pos < 0:
            return 0, ENDS_INSIDE_A_NUMBER
        if n > (len(data) - pos) // 2:  # each entry takes two bytes at least
            return 0, TOO_MANY_SYMBOLS
        previous = 0
        for i in range(n):
            zigzag, pos = _read_varint(data, pos)
            if pos < 0:
                return 0, ENDS_INSIDE_A_NUMBER
            count, pos = _read_varint(data, pos)
            if pos < 0:
                return 0, ENDS_INSIDE_A_NUMBER
            if at >= len(symbols):  # more entries than the arrays hold (the caller sized them)
                return 0, TOO_MANY_SYMBOLS
            symbol = previous + ((zigzag >> 1) ^ -(zigzag & 1))
            if count < 1 or count > MAX_MAGNITUDE or (i > 0 and symbol <= previous) or abs(symbol) > MAX_MAGNITUDE:
                return 0, NOT_SORTED_OR_ZERO_COUNT
            symbols[at] = symbol
            counts[at] = count
            at += 1
            previous = symbol
        group_starts[g + 1] = at
    if pos != len(data):
        return 0, TRAILING_BYTES
    return n_groups, 0


def _read_varint(data, pos):
    """(value, position after it) of the varint at ``pos``; position -1 where ``data`` ends
    inside it or it runs past MAX_VARINT_BYTES."""
    value = 0
    for k in range(MAX_VARINT_BYTES):
        if pos >= len(data):
            return 0, -1
        byte = int(data[pos])
        pos += 1
        value |= (byte & 0x7F) << (7 * k)
        if not byte & 0x80:
            return value, pos
    return 0, -1


def pack_tables(group_starts, symbols, counts, out):
    """Write the table section of the groups whose entries are [group_starts[g],
    group_starts[g + 1]) of ``symbols`` (ascending within a group, int64) and ``counts``
    (int64 >= 0) into ``out`` (uint8, room for 10 bytes per varint); returns its length."""
    n_groups = len(group_starts) - 1
    pos = _write_varint(out, 0, n_groups)
    for g in range(n_groups):
        pos = _write_varint(out, pos, group_starts[g + 1] - group_starts[g])
        previous = 0
        for i in range(group_starts[g], group_starts[g + 1]):
            delta = symbols[i] - previous
            previous = symbols[i]
            pos = _write_varint(out, pos, (delta << 1) ^ (delta >> 63))
            pos = _write_varint(out, pos, counts[i])
    return pos


def _write_varint(out, pos, value):
    """Write ``value`` (>= 0) as a varint at ``pos``; returns the position after it."""
    while value > 0x7F:
        out[pos] = (value & 0x7F) | 0x80
        pos += 1
        value >>= 7
    out[pos] = value
    return pos + 1
