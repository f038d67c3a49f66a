"""The context coder's loops (:mod:`.context_kernels`) compiled with numba (on-disk cache,
releasing the GIL, integer arithmetic only: the same contexts, words and symbols as the plain
Python functions, which run where numba does not, see :mod:`..numba_support`)."""

from __future__ import annotations

from . import context_kernels
from ..numba_support import compiled_copy, jit

_jit = jit(cache=True, nogil=True, fastmath=False)

#: the per-value helpers are inlined into the loops by numba (``inline="always"``): called, they
#: took 2-4x as long per value (measured on a (32, 128, 128) band).
_inline = jit(cache=True, nogil=True, fastmath=False, inline="always")
_capped = _inline(context_kernels._capped)
_context = _inline(context_kernels._context)
band_contexts = compiled_copy(_jit, context_kernels.band_contexts, _context=_context, _capped=_capped)
fill_band = compiled_copy(_jit, context_kernels.fill_band, _capped=_capped)
guess_table = _jit(context_kernels.guess_table)
encode_symbols = _jit(context_kernels.encode_symbols)
band_histogram = compiled_copy(_jit, context_kernels.band_histogram, _context=_context, _capped=_capped)
band_costs = _jit(context_kernels.band_costs)
choose_tables = _jit(context_kernels.choose_tables)
decode_band = compiled_copy(_jit, context_kernels.decode_band, _context=_context, _capped=_capped)
