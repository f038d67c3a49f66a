"""The interleaved rANS coder's loops (:mod:`.rans_kernels`) compiled with numba (on-disk
cache, releasing the GIL, integer arithmetic only: the same words and symbols as the plain
Python functions). Imported only where :func:`.numba_support.enabled`."""

from __future__ import annotations

import numba
import numpy as np

from . import rans_kernels
from .numba_support import compiled_copy

_jit = numba.njit(cache=True, nogil=True, fastmath=False)

normalize_counts = _jit(rans_kernels.normalize_counts)
# indices as numpy.uint64 (the plain module's ``_unsigned`` is int): no negative-index tests
encode_symbols = compiled_copy(_jit, rans_kernels.encode_symbols, _unsigned=np.uint64)
fill_slots = compiled_copy(_jit, rans_kernels.fill_slots, _unsigned=np.uint64)
decode_symbols = _jit(rans_kernels.decode_symbols)
