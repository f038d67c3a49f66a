"""The interleaved rANS coder's loops (:mod:`.rans_kernels`) compiled with numba (on-disk
cache, releasing the GIL, integer arithmetic only: the same words and symbols as the plain
Python functions). Imported only where :func:`.numba_support.enabled`."""

from __future__ import annotations

from types import FunctionType

import numba
import numpy as np

from . import rans_kernels

_jit = numba.njit(cache=True, nogil=True, fastmath=False)


def _compiled_unsigned(function: FunctionType) -> object:
    """``function`` of :mod:`.rans_kernels` compiled with ``_unsigned`` = numpy.uint64 (a copy
    of the function with that global: the plain module keeps int). numba's cache is keyed to
    rans_kernels.py's source, not to the globals given here: a change to them alone must also
    touch rans_kernels.py (or clear the cache), else the old build is loaded."""
    names = {**vars(rans_kernels), "_unsigned": np.uint64}
    return _jit(FunctionType(function.__code__, names, function.__name__, function.__defaults__))


normalize_counts = _jit(rans_kernels.normalize_counts)
encode_symbols = _compiled_unsigned(rans_kernels.encode_symbols)
fill_slots = _jit(rans_kernels.fill_slots)
decode_symbols = _jit(rans_kernels.decode_symbols)
