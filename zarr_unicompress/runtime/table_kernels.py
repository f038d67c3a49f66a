"""The loops that write and read the frequency-table section (:mod:`.entropy`), written once as
plain Python: :mod:`.table_loops` compiles these same functions with numba (no GIL, no
per-byte interpreter work: reading the tables was 16 % of a (16, 256, 256) ratio-mode decode);
where numba does not run, :mod:`.entropy` calls them as they are.

Layout: ``n_groups`` varint, then per group ``n_distinct`` varint followed by ``n_distinct``
pairs (zigzag delta of the symbol from the previous one, count), all LEB128 varints of at most
MAX_VARINT_BYTES bytes. Every value stays below 2**63 (int64 in numba, the same numbers in
CPython). Error codes (0: none) name what is wrong; :mod:`.entropy` turns them into messages.
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


def parse_tables(data, max_groups, group_starts, symbols, counts):  # noqa: ANN001, ANN201
    """Read a table section ``data`` (bytes-like of uint8) into ``symbols`` and ``counts``
    (each at least len(data) // 2 entries, int64): group g's entries are
    [group_starts[g], group_starts[g + 1]) (``group_starts`` max_groups + 1 entries).
    Returns (number of groups, error code)."""
    n_bytes = len(data)
    pos = 0
    n_groups = 0
    value = 0
    shift = 0
    while True:  # n_groups
        if pos >= n_bytes or shift > 7 * (MAX_VARINT_BYTES - 1):
            return 0, ENDS_INSIDE_A_NUMBER
        byte = int(data[pos])
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    n_groups = value
    if n_groups > max_groups:
        return 0, TOO_MANY_GROUPS
    at = 0
    group_starts[0] = 0
    for g in range(n_groups):
        value = 0
        shift = 0
        while True:
            if pos >= n_bytes or shift > 7 * (MAX_VARINT_BYTES - 1):
                return 0, ENDS_INSIDE_A_NUMBER
            byte = int(data[pos])
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        n = value
        if n > (n_bytes - pos) // 2:  # each entry takes two bytes at least
            return 0, TOO_MANY_SYMBOLS
        previous = 0
        for i in range(n):
            zigzag = 0
            shift = 0
            while True:
                if pos >= n_bytes or shift > 7 * (MAX_VARINT_BYTES - 1):
                    return 0, ENDS_INSIDE_A_NUMBER
                byte = int(data[pos])
                pos += 1
                zigzag |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            count = 0
            shift = 0
            while True:
                if pos >= n_bytes or shift > 7 * (MAX_VARINT_BYTES - 1):
                    return 0, ENDS_INSIDE_A_NUMBER
                byte = int(data[pos])
                pos += 1
                count |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            symbol = previous + ((zigzag >> 1) ^ -(zigzag & 1))
            if count < 1 or count > MAX_MAGNITUDE or (i > 0 and symbol <= previous) or abs(symbol) > MAX_MAGNITUDE:
                return 0, NOT_SORTED_OR_ZERO_COUNT
            symbols[at] = symbol
            counts[at] = count
            at += 1
            previous = symbol
        group_starts[g + 1] = at
    if pos != n_bytes:
        return 0, TRAILING_BYTES
    return n_groups, 0


def pack_tables(group_starts, symbols, counts, out):  # noqa: ANN001, ANN201
    """Write the table section of the groups whose entries are [group_starts[g],
    group_starts[g + 1]) of ``symbols`` (ascending within a group, int64) and ``counts``
    (int64 >= 0) into ``out`` (uint8, room for 10 bytes per varint); returns its length."""
    n_groups = len(group_starts) - 1
    pos = 0
    value = n_groups
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out[pos] = byte | 0x80
            pos += 1
        else:
            out[pos] = byte
            pos += 1
            break
    for g in range(n_groups):
        value = group_starts[g + 1] - group_starts[g]
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out[pos] = byte | 0x80
                pos += 1
            else:
                out[pos] = byte
                pos += 1
                break
        previous = 0
        for i in range(group_starts[g], group_starts[g + 1]):
            delta = symbols[i] - previous
            previous = symbols[i]
            value = (delta << 1) ^ (delta >> 63)
            while True:
                byte = value & 0x7F
                value >>= 7
                if value:
                    out[pos] = byte | 0x80
                    pos += 1
                else:
                    out[pos] = byte
                    pos += 1
                    break
            value = counts[i]
            while True:
                byte = value & 0x7F
                value >>= 7
                if value:
                    out[pos] = byte | 0x80
                    pos += 1
                else:
                    out[pos] = byte
                    pos += 1
                    break
    return pos
