"""The predictive coder's loops (:mod:`.range_coder`, :mod:`.kernels`, :mod:`.choose`)
compiled with numba (on-disk cache, releasing the GIL): the same bytes and voxels as the plain
functions, which :func:`..numba_support.compiled_copy` hands out as they are where numba does
not run.

numba caches each compiled function by its own source file: :func:`.kernels.run` and
:func:`.kernels.encode_stream` embed :mod:`.range_coder`'s functions, so a change to
range_coder.py alone must also touch kernels.py (or clear ``__pycache__``), else the old build
of the loops is loaded."""

from __future__ import annotations


from ..numba_support import compiled_copy, jit
from . import choose, kernels, range_coder

_jit = jit(cache=True, nogil=True)

_shift_low = _jit(range_coder._shift_low)
encode_bit = compiled_copy(_jit, range_coder.encode_bit, _shift_low=_shift_low)
decode_bit = _jit(range_coder.decode_bit)
finish = compiled_copy(_jit, range_coder.finish, _shift_low=_shift_low)
_bucket = _jit(kernels.bucket)
_sign = _jit(kernels._sign)
_helpers = dict(encode_bit=encode_bit, decode_bit=decode_bit, bucket=_bucket, _sign=_sign)
encode_residual = compiled_copy(_jit, kernels.encode_residual, **_helpers)
decode_residual = compiled_copy(_jit, kernels.decode_residual, **_helpers)
_start_row = _jit(kernels._start_row)
_end_row = _jit(kernels._end_row)
_token_zero = _jit(kernels._token_zero)
_all = dict(_helpers, encode_residual=encode_residual, decode_residual=decode_residual,
            _start_row=_start_row, _end_row=_end_row, _token_zero=_token_zero)
run = compiled_copy(_jit, kernels.run, **_all)
encode_stream = compiled_copy(_jit, kernels.encode_stream, **_all)
choose_classes = _jit(choose.choose_classes)
