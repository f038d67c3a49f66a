"""NumPy references of the voxel loops (:mod:`.voxel_loops`): the ``max_error`` quantiser of
voxel residuals, the reconstruction of indices-only and ``max_error`` chunks from their tokens,
and the normalised tokens the codeword search reads."""

from __future__ import annotations

import numpy as np

from zarr_unicompress.runtime.inr.tokens import from_tokens, to_tokens


def quantized_residuals(chunk: np.ndarray, indices: np.ndarray, table: np.ndarray, max_error: int,
                        token_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(q (n_tokens, V) int64, each token's sum of |q| (n_tokens,) int64) of the residual of
    ``chunk``'s tokens against ``table[indices]``: q = sign(r) * floor((|r| + E) / (2E + 1)) in
    int64, 0 for the voxels edge padding adds."""
    residual = to_tokens(chunk, token_shape).astype(np.int64) - table[indices].astype(np.int64)
    q = np.sign(residual) * ((np.abs(residual) + max_error) // (2 * max_error + 1))
    inside = to_tokens(np.ones(chunk.shape, np.bool_), token_shape, pad_mode="constant")
    q[~inside] = 0
    return q, np.abs(q).sum(1)


def tokens_to_chunk(indices: np.ndarray, table: np.ndarray, token_class: np.ndarray, residuals: list[np.ndarray],
                    step: int, lo: int, hi: int, shape: tuple[int, int, int], token_shape: tuple[int, int, int],
                    dtype: np.dtype) -> np.ndarray:
    """The chunk of ``shape`` whose token t is clip(table[indices[t]] + step * q, lo, hi) in
    int64, q the token's next row of its class's ``residuals[class]`` (flat, in token order);
    without ``residuals`` q = 0."""
    tokens = table[indices].astype(np.int64)
    for c, q in enumerate(residuals):
        tokens[token_class == c] += q.reshape(-1, tokens.shape[1]).astype(np.int64) * step
    np.clip(tokens, lo, hi, out=tokens)
    return np.ascontiguousarray(from_tokens(tokens, shape, token_shape)).astype(dtype)


def normalized_tokens(chunk: np.ndarray, token_shape: tuple[int, int, int], lo: int, hi: int) -> np.ndarray:
    """Edge-padded tokens of ``chunk`` as float32, (v - lo) / (hi - lo) in float32 steps."""
    tokens01 = to_tokens(chunk, token_shape).astype(np.float32)
    tokens01 -= np.float32(lo)
    tokens01 /= np.float32(hi - lo)
    return tokens01
