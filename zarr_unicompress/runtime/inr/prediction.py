"""The INR prediction of a chunk: codebook indices in, predicted voxels out.

In: a 3D chunk and its intensity range [lo, hi] (encode side) or its codebook indices (decode
side); out: the indices (n_tokens,) int64 and the prediction (z, y, x) in the chunk's dtype,
looked up in the model's fixed-point table scaled to [lo, hi].
"""

from __future__ import annotations

import numpy as np

from .codeword_search import nearest_table_entries, search_device
from .model import RuntimeModel
from .tokens import from_tokens, normalized_tokens, token_grid


def scaled_table(model: RuntimeModel, lo: int, hi: int) -> np.ndarray:
    """Predicted intensities for every (codeword, voxel in token): (K, V) int32, in [lo, hi]."""
    span = hi - lo
    return (lo + (model.table.astype(np.int64) * span + 32767) // 65535).astype(np.int32)


def select_indices(model: RuntimeModel, tokens01: np.ndarray, mode: str) -> np.ndarray:
    """Codeword index per token (N,) int64 for normalised tokens (N, V) float32 (the "table"
    search runs where :func:`~.codeword_search.set_search_device` says)."""
    if mode == "encoder":
        return model.encoder_indices(tokens01)
    return nearest_table_entries(model.digest, model.table_float, tokens01)


def codebook_indices(model: RuntimeModel, vol: np.ndarray, lo: int, hi: int, mode: str) -> np.ndarray:
    """The codebook index (n_tokens,) int64 of each token (:func:`~.tokens.to_tokens`, edge-padded)
    of a 3D chunk whose intensities span [lo, hi] (lo < hi).

    The "table" search in NumPy runs on a few token rows (along z) at a time
    (:data:`_SEARCH_BATCH_TOKENS` tokens or more): each batch's normalised tokens are searched
    while they are in cache, instead of all of them written out first (a (30, 512, 512) chunk's
    are 32 MiB of float32; 28 -> 22 ms for its tokens and search). A row's tokens are a slab of
    tz slices, the last slab edge-padded as the whole chunk's last row is: the same tokens and
    indices. A device search (batches of 65536 tokens) and the network encoder take them all."""
    if mode != "table" or search_device() is not None:
        return select_indices(model, normalized_tokens(vol, model.token_shape, lo, hi), mode)
    tz = model.token_shape[0]
    rows, gy, gx = token_grid(vol.shape, model.token_shape)
    per_row = gy * gx
    rows_per_batch = max(1, -(-_SEARCH_BATCH_TOKENS // per_row))
    indices = np.empty(rows * per_row, np.int64)
    for first in range(0, rows, rows_per_batch):
        last = min(rows, first + rows_per_batch)
        tokens01 = normalized_tokens(vol[first * tz : last * tz], model.token_shape, lo, hi)
        indices[first * per_row : last * per_row] = nearest_table_entries(model.digest, model.table_float, tokens01)
    return indices


#: tokens searched at a time by :func:`codebook_indices` (at least; whole token rows): 4 MiB of
#: float32 tokens of 256 voxels, the batch of :mod:`.codeword_search`'s NumPy products.
_SEARCH_BATCH_TOKENS = 4096


def inr_prediction(model: RuntimeModel, vol: np.ndarray, lo: int, hi: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Codebook indices (n_tokens,) int64 and the INR prediction (z, y, x) of a 3D chunk whose
    intensities span [lo, hi] (lo < hi), in the chunk's dtype (the prediction lies in [lo, hi]:
    a quarter of the memory traffic of int32 for uint8 chunks)."""
    indices = codebook_indices(model, vol, lo, hi, mode)
    return indices, prediction(model, indices, vol.shape, lo, hi, vol.dtype)


def prediction(model: RuntimeModel, indices: np.ndarray, shape: tuple[int, int, int], lo: int, hi: int,
               dtype: np.dtype) -> np.ndarray:
    """The INR prediction (z, y, x) in ``dtype`` of a chunk of ``shape`` whose intensities span
    [lo, hi] and whose tokens have codebook ``indices``."""
    table = scaled_table(model, lo, hi).astype(dtype)
    return from_tokens(table[indices], shape, model.token_shape)


def prediction_slices(model: RuntimeModel, indices: np.ndarray, shape: tuple[int, int, int], lo: int, hi: int,
                      dtype: np.dtype, zs: np.ndarray) -> np.ndarray:
    """Slices ``zs`` (int array) of the INR prediction (len(zs), y, x) in ``dtype`` of a chunk of
    ``shape`` whose tokens have codebook ``indices`` (as :func:`inr_prediction` gives them):
    only those slices' voxels of each token are looked up."""
    tz, ty, tx = model.token_shape
    _, gy, gx = token_grid(shape, model.token_shape)
    plane = ty * tx
    table = scaled_table(model, lo, hi).astype(dtype)
    slices = []
    for z in zs:
        row, k = divmod(int(z), tz)
        row_indices = indices[row * gy * gx : (row + 1) * gy * gx]
        slices.append(from_tokens(table[:, k * plane : (k + 1) * plane][row_indices], (1, *shape[1:]), (1, ty, tx)))
    return np.concatenate(slices)
