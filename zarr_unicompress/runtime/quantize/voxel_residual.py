"""The voxel residual of the ``max_error`` mode: quantiser and context classes.

In: a chunk (z, y, x), its codebook indices and the bound E; out: the residual symbols
(n_tokens, voxels per token) quantised with step 2E+1 (so that every voxel is within E),
each token's sum of |q|, and the context class of each codeword (a group of codewords with
similar residual magnitude in this chunk, so contexts depend on integers only).
"""

from __future__ import annotations

import numpy as np

from .. import numba_support
from ..inr.model import RuntimeModel
from ..inr.prediction import scaled_table

#: number of residual context classes per chunk (fewer for small chunks).
MAX_CONTEXT_CLASSES = 8


#: chunks spanning at most this many intensity levels quantise their ``max_error`` residuals
#: by a table of magnitudes (8 bytes per level) instead of a division per voxel.
_MAGNITUDE_TABLE_MAX = 1 << 17


def quantized_residuals(model: RuntimeModel, vol: np.ndarray, indices: np.ndarray, lo: int, hi: int,
                         max_error: int) -> tuple[np.ndarray, np.ndarray]:
    """The quantised residual symbols (n_tokens, voxels per token) of a chunk against its
    tokens' table entries (0 for the voxels edge padding adds), int16 where every symbol fits
    (half the memory of int32 for the passes that follow), else int32, and each token's sum of
    |q| (n_tokens,) int64: q = sign(r) * floor((|r| + E) / (2E + 1)), E = ``max_error`` (any
    bound below 2**31), in one pass of :func:`.voxel_loops.quantized_residuals`."""
    table = scaled_table(model, lo, hi)
    # |r| <= span (voxels and table entries lie in [lo, hi]), so |q| <= largest
    span, divisor = hi - lo, 2 * max_error + 1
    largest = (span + max_error) // divisor
    symbol_type = np.int16 if largest <= np.iinfo(np.int16).max else np.int32
    q_tokens = np.empty((len(indices), table.shape[1]), symbol_type)
    energy = np.empty(len(indices), np.int64)
    # the quantised magnitudes of every |r| as a table where the span is small (uint8 /
    # uint16 data), else the loop divides
    magnitudes = ((np.arange(span + 1, dtype=np.int64) + max_error) // divisor
                  if span <= _MAGNITUDE_TABLE_MAX else np.empty(0, np.int64))
    numba_support.loops("quantize.voxel_loops").quantized_residuals(
        vol, indices, table, max_error, np.array(model.token_shape, np.int64), magnitudes, q_tokens, energy)
    return q_tokens, energy


def context_classes(indices: np.ndarray, token_energy: np.ndarray, codebook_size: int, n_voxels: int) -> np.ndarray:
    """Group codewords into context classes by mean |q| of their tokens in this chunk
    (``token_energy`` (n_tokens,) int64: each token's sum of |q|).

    Returns (codebook_size,) int64 class per codeword, classes numbered 0.. by increasing
    residual magnitude, each holding about the same number of tokens.
    """
    n_classes = int(np.clip(n_voxels // 8192, 1, MAX_CONTEXT_CLASSES))
    counts = np.bincount(indices, minlength=codebook_size)
    energy = np.bincount(indices, weights=token_energy, minlength=codebook_size)
    mean = energy / np.maximum(counts, 1)
    order = np.argsort(mean, kind="stable")
    cum = np.cumsum(counts[order]) / max(1, counts.sum())
    cls_sorted = np.minimum((cum * n_classes - 1e-9).astype(np.int64), n_classes - 1)
    cls_sorted = np.maximum(cls_sorted, 0)
    classes = np.empty(codebook_size, dtype=np.int64)
    classes[order] = cls_sorted
    # renumber so that the used classes are 0..n-1 without gaps
    _, classes = np.unique(classes, return_inverse=True)
    return classes.astype(np.int64)


def tokens_by_class(q_tokens: np.ndarray, token_class: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """Per class 0..n_classes-1, the rows of ``q_tokens`` (n_tokens, voxels) whose
    ``token_class`` (n_tokens,) it is, in token order, flattened: one stable sort of the
    classes and one gather of the rows (instead of a masked copy per class)."""
    order = np.argsort(token_class, kind="stable")
    ends = np.cumsum(np.bincount(token_class, minlength=n_classes))[:-1] * q_tokens.shape[1]
    return np.split(q_tokens[order].reshape(-1), ends)
