"""Frequency tables as loops compiled by numba (see :mod:`..numba_support`): a group's range
and histogram for the encoder's table (:func:`.groups._table_and_codes`, two passes over the
group instead of NumPy's four or five), and the loops of :mod:`.table_kernels` that write and
read the table section. Integer arithmetic only: the same tables and bytes on every machine.
"""

from __future__ import annotations

import numpy as np

from . import table_kernels
from ..numba_support import compiled_copy, jit

_jit = jit(cache=True, nogil=True, fastmath=False)


@_jit
def value_range(flat):
    """(smallest, largest) value of a non-empty 1D integer array, as int64."""
    lo = np.int64(flat[0])
    hi = lo
    for i in range(flat.shape[0]):
        v = np.int64(flat[i])
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi


@_jit
def histogram(flat, lo, span):
    """Occurrences (span,) int64 of each value lo .. lo + span - 1 in ``flat`` (all in range).
    Four partial histograms take the values in turn: a run of equal values (zeros, mostly)
    would otherwise wait on the previous increment of the same bin."""
    partial = np.zeros((4, span), np.int64)
    n = flat.shape[0]
    whole = n - n % 4
    for i in range(0, whole, 4):  # uint64 bins: no test for negative indices (25 % faster)
        partial[0, np.uint64(np.int64(flat[i]) - lo)] += 1
        partial[1, np.uint64(np.int64(flat[i + 1]) - lo)] += 1
        partial[2, np.uint64(np.int64(flat[i + 2]) - lo)] += 1
        partial[3, np.uint64(np.int64(flat[i + 3]) - lo)] += 1
    for i in range(whole, n):
        partial[0, np.int64(flat[i]) - lo] += 1
    counts = np.empty(span, np.int64)
    for v in range(span):
        counts[v] = partial[0, v] + partial[1, v] + partial[2, v] + partial[3, v]
    return counts


_read_varint = _jit(table_kernels._read_varint)
_write_varint = _jit(table_kernels._write_varint)
# the table kernels calling the compiled varint helpers in place of the plain ones
parse_tables = compiled_copy(_jit, table_kernels.parse_tables, _read_varint=_read_varint)
pack_tables = compiled_copy(_jit, table_kernels.pack_tables, _write_varint=_write_varint)
