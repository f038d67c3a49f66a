"""Streams of codebook indices and, for ``max_error``, the quantised voxel residual: what the
indices-only and the ``max_error`` coders share.

Encode: a chunk (z, y, x) in; the entropy-coded groups (indices, then the residual symbols of
each context class) and the class map out. Decode: the reverse, the chunk clipped to [lo, hi].
"""

from __future__ import annotations

import math

import numpy as np

from ...bitstream import FLAG_RANS, FLAG_RESIDUAL, ChunkHeader, ChunkSections
from ...errors import ChunkCorrupt
from .. import numba_support
from ..entropy.groups import GroupDecoder, encode_groups
from ..inr.model import RuntimeModel
from ..inr.prediction import codebook_indices, scaled_table
from ..inr.tokens import token_grid
from ..quantize.voxel_residual import context_classes, quantized_residuals, tokens_by_class
from .base import Coder, chunk_header


def encode_voxels(coder: Coder, vol: np.ndarray, model: RuntimeModel, max_error: int | None,
                  index_search: str) -> tuple[ChunkHeader, ChunkSections]:
    """Header and sections of a non-constant chunk ``vol`` (z, y, x): its codebook indices and,
    where ``max_error`` is not None, its residual quantised with step 2 * max_error + 1."""
    lo, hi = int(vol.min()), int(vol.max())
    indices = codebook_indices(model, vol, lo, hi, index_search)
    groups: list[np.ndarray] = [indices]
    class_map = b""
    flags = 0
    if max_error is not None:
        flags |= FLAG_RESIDUAL
        q_tokens, energy = quantized_residuals(model, vol, indices, lo, hi, max_error)
        classes = context_classes(indices, energy, model.codebook_size, vol.size)
        class_map = classes.astype(np.uint8).tobytes()
        groups += tokens_by_class(q_tokens, classes[indices], int(classes.max()) + 1)
    tables, words, uses_rans = encode_groups(groups)
    flags |= FLAG_RANS if uses_rans else 0
    return chunk_header(coder, flags, vol, model, lo, hi, max_error), ChunkSections(tables, class_map, words)


def decode_voxels(header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
    """The chunk (z, y, x) in its dtype of an indices-only or ``max_error`` stream."""
    decoder = GroupDecoder(sections.tables, sections.words, header.uses_rans)
    out = _decode_voxel_residual(model, header, sections, decoder)
    decoder.finish()
    return out


def decode_indices(model: RuntimeModel, header: ChunkHeader, decoder: GroupDecoder) -> np.ndarray:
    """Codebook indices (n_tokens,) int64 of the chunk, range-checked."""
    n_tokens = math.prod(token_grid(header.shape, model.token_shape))
    rows = min(model.codebook_size, model.table.shape[0])  # equal for a checked model; the table bounds the gathers
    indices = decoder.next(n_tokens, magnitude_limit=rows)
    if indices.min() < 0 or indices.max() >= rows:
        raise ChunkCorrupt(f"chunk holds codebook indices outside 0..{rows - 1}; it is damaged")
    return indices


def _decode_voxel_residual(model: RuntimeModel, header: ChunkHeader, sections: ChunkSections,
                           decoder: GroupDecoder) -> np.ndarray:
    """Indices-only and max_error streams: the chunk (z, y, x) in its dtype, clipped to [lo, hi],
    by :func:`.voxel_loops.tokens_to_chunk` (which adds in int64).

    The table and symbols are int32 (half the memory traffic of int64) unless the bound is so
    large that q * (2E+1) could leave int32; then int64.
    """
    # A bound beyond the span decodes as the span does (any q != 0 lands outside [lo, hi] and
    # is clipped either way): so a forged bound of 2**31 - 1 cannot ask for int64 work arrays.
    bound = None if header.max_error is None else min(header.max_error, header.hi - header.lo)
    wide = bound is not None and bound >= 1 << 30
    work = np.int64 if wide else np.int32
    indices = decode_indices(model, header, decoder)
    table = scaled_table(model, header.lo, header.hi).astype(work)
    voxels_per_token = table.shape[1]
    token_class = np.empty(0, np.int64)
    symbols = np.empty(0, work)
    starts = np.zeros(1, np.int64)  # where each class's residuals start in ``symbols``
    step = work(2 * bound + 1) if bound is not None else work(1)
    if header.has_residual:
        if header.max_error is None or len(sections.classes) != model.codebook_size:
            raise ChunkCorrupt("chunk residual section lacks its bound or its class map; it is damaged")
        classes = np.frombuffer(sections.classes, dtype=np.uint8).astype(np.int64)
        if decoder.n_groups != int(classes.max()) + 2:
            raise ChunkCorrupt("chunk class map and symbol groups disagree; the chunk is damaged")
        token_class = classes[indices]
        limit = None if wide else -(-(1 << 17) // int(step)) + 1  # |q| of a real chunk stays below this
        # the symbols in int16 where the bound allows (max_error >= 2): half the memory of int32
        narrow = np.int16 if limit is not None and limit <= np.iinfo(np.int16).max + 1 else work
        sizes = np.bincount(token_class, minlength=decoder.n_groups - 1) * voxels_per_token
        ends = np.cumsum(sizes)
        starts = ends - sizes
        symbols = np.empty(int(ends[-1]), narrow)  # all classes in one buffer: no concatenation
        for start, end in zip(starts.tolist(), ends.tolist()):
            part = symbols[start:end]
            decoder.next(len(part), dtype=narrow, magnitude_limit=limit, out=part)
    out = np.empty(header.shape, header.dtype)
    numba_support.loops("quantize.voxel_loops").tokens_to_chunk(
        indices, table, token_class, symbols, starts, int(step), header.lo, header.hi,
        np.array(model.token_shape, np.int64), out)
    return out
