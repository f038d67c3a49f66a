"""Entropy stage: integer symbol groups in, frequency tables and coded words (bytes) out, and
back; bit-exact on every machine (integer tables only).

Modules: :mod:`.groups` (the chunk's groups: encode_groups / GroupDecoder, tables,
constriction's ANS for old streams), :mod:`.rans` (the interleaved rANS coder),
:mod:`.rans_kernels`, :mod:`.table_kernels` and :mod:`.context_kernels` (plain kernels that the
loop modules compile), :mod:`.estimate_bits` (the size estimates' constants), the ratio mode's
context coder (:mod:`.contexts`, the model's tables :mod:`.context_tables`), and the loops (the
one implementation of each kernel, compiled by numba) :mod:`.rans_loops`, :mod:`.table_loops`,
:mod:`.estimate_loops`, :mod:`.context_loops`.
"""
