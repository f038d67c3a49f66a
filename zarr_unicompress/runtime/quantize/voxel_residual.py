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
from ..inr.tokens import to_tokens

#: number of residual context classes per chunk (fewer for small chunks).
MAX_CONTEXT_CLASSES = 8


#: chunks spanning at most this many intensity levels quantise their ``max_error`` residuals
#: by a table of magnitudes (8 bytes per level) instead of a division per voxel.
_MAGNITUDE_TABLE_MAX = 1 << 17


def quantized_residuals(model: RuntimeModel, vol: np.ndarray, indices: np.ndarray, lo: int, hi: int,
                         max_error: int) -> tuple[np.ndarray, np.ndarray]:
    """The quantised residual symbols (n_tokens, voxels per token) of a chunk against its
    tokens' table entries (0 for the voxels edge padding adds) and each token's sum of |q|
    (n_tokens,) int64; in one compiled pass where numba runs (same values, in int16 where
    they fit: half the memory of int32 for the passes that follow), else in NumPy (int32)."""
    table = scaled_table(model, lo, hi)
    compiled = numba_support.loops("quantize.voxel_loops") if max_error < 1 << 30 else None
    if compiled is not None:
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
        compiled.quantized_residuals(vol, indices, table, max_error, np.array(model.token_shape, np.int64),
                                     magnitudes, q_tokens, energy)
        return q_tokens, energy
    residual = to_tokens(vol, model.token_shape).astype(np.int32)
    residual -= table[indices]
    q_tokens = quantize_residual(residual, max_error)
    _zero_padding(q_tokens, vol.shape, model.token_shape)
    return q_tokens, np.abs(q_tokens).sum(1)


def quantize_residual(residual: np.ndarray, max_error: int) -> np.ndarray:
    """Quantise integer residuals (int32, |r| < 2**17) with step 2E+1 so that |r - q * (2E+1)| <= E.

    q = sign(r) * floor((|r| + E) / (2E+1)), returned as int32 of the residual's shape; computed
    in int32 where |r| + E cannot overflow it (E < 2**30), else in int64.
    """
    work = residual if max_error < 1 << 30 else residual.astype(np.int64)
    mag = np.abs(work)
    mag += max_error
    mag //= 2 * max_error + 1
    mag *= np.sign(work)
    return mag.astype(np.int32, copy=False)


def _zero_padding(q_tokens: np.ndarray, shape: tuple[int, int, int], token_shape: tuple[int, int, int]) -> None:
    """Set the residual symbols of the voxels that edge padding added (beyond ``shape``) to 0."""
    if all(s % t == 0 for s, t in zip(shape, token_shape)):
        return
    inside = to_tokens(np.ones(shape, np.bool_), token_shape, pad_mode="constant")
    q_tokens[~inside] = 0


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
