"""Entropy stage: integer symbol groups in, frequency tables and coded words (bytes) out, and
back; bit-exact on every machine (integer tables only).

Modules: :mod:`.groups` (the chunk's groups: encode_groups / GroupDecoder, tables,
constriction's ANS for old streams), :mod:`.rans` (the interleaved rANS coder),
:mod:`.rans_kernels` and :mod:`.table_kernels` (plain kernels shared with the compiled ones),
:mod:`.estimate_bits` (size estimates with a deterministic log2), the ratio mode's context
coder (:mod:`.contexts`, its kernels :mod:`.context_kernels`, the model's tables
:mod:`.context_tables`), and the numba kernels :mod:`.rans_loops`, :mod:`.table_loops`,
:mod:`.estimate_loops`, :mod:`.context_loops`.
"""
