"""The loops of payload version 2 (:mod:`.row_kernels`, :mod:`.encode_kernels`) compiled with
numba (on-disk cache, releasing the GIL, no fast-math: the same voxels, symbols and choices as
the plain functions, which :func:`..numba_support.compiled_copy` hands out as they are where
numba does not run).

numba caches each function by its own source file: :func:`.row_kernels.closed_loop` embeds
:func:`.kernels.bucket` and :func:`.kernels._end_row`, so a change there alone must also touch
row_kernels.py (or clear ``__pycache__``)."""

from __future__ import annotations

import numpy as np

from ..numba_support import compiled_copy, jit
from . import encode_kernels, kernels, row_kernels

_jit = jit(cache=True, nogil=True)

_bucket = _jit(kernels.bucket)
_end_row = _jit(kernels._end_row)
zigzag_token = _jit(row_kernels.zigzag_token)
left_class = _jit(row_kernels.left_class)
read_bits = _jit(row_kernels.read_bits)
decode_symbol = _jit(row_kernels.decode_symbol)
row_ctx = compiled_copy(_jit, row_kernels.row_ctx, _unsigned=np.uint64)
token_ext = compiled_copy(_jit, row_kernels.token_ext, _unsigned=np.uint64)
_start_row = _jit(row_kernels._start_row)
class_taps = _jit(row_kernels.class_taps)
_helpers = dict(bucket=_bucket, read_bits=read_bits, decode_symbol=decode_symbol, left_class=left_class)
_quantise = _jit(row_kernels._quantise)
_row0 = compiled_copy(_jit, row_kernels._row0, _quantise=_quantise, **_helpers)
closed_loop = compiled_copy(_jit, row_kernels.closed_loop, _end_row=_end_row, row_ctx=row_ctx, token_ext=token_ext,
                            _start_row=_start_row, class_taps=class_taps, _row0=_row0, _quantise=_quantise,
                            **_helpers)
choose_rows = compiled_copy(_jit, encode_kernels.choose_rows, _unsigned=np.uint64, left_class=left_class)
emit = compiled_copy(_jit, encode_kernels.emit, zigzag_token=zigzag_token, left_class=left_class)
pack_bits = _jit(encode_kernels.pack_bits)
