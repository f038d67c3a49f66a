"""Split a 3D chunk into tokens (non-overlapping blocks of voxels) and back.

A token is a block of ``token_shape`` voxels (z, y, x); the chunk is padded by edge
replication to a whole number of tokens. Tokens are numbered in C order over the token
grid; voxels inside a token are numbered in C order too.
"""

from __future__ import annotations

import numpy as np

from .. import numba_support


def token_grid(shape: tuple[int, ...], token_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Number of tokens along (z, y, x) for a chunk of ``shape`` voxels (ceil division)."""
    return tuple(-(-s // t) for s, t in zip(shape, token_shape))  # type: ignore[return-value]


def to_tokens(chunk: np.ndarray, token_shape: tuple[int, int, int], pad_mode: str = "edge") -> np.ndarray:
    """(D, H, W) array -> (n_tokens, prod(token_shape)) array of the same dtype.

    ``pad_mode`` is the :func:`numpy.pad` mode for the partial tokens at the far edges
    ("edge" replicates, "constant" pads with zeros).
    """
    grid = token_grid(chunk.shape, token_shape)
    pads = [(0, g * t - s) for g, t, s in zip(grid, token_shape, chunk.shape)]
    if any(p[1] for p in pads):
        chunk = np.pad(chunk, pads, mode=pad_mode)
    gz, gy, gx = grid
    tz, ty, tx = token_shape
    blocks = chunk.reshape(gz, tz, gy, ty, gx, tx).transpose(0, 2, 4, 1, 3, 5)
    return blocks.reshape(gz * gy * gx, tz * ty * tx)


def normalized_tokens(chunk: np.ndarray, token_shape: tuple[int, int, int], lo: int, hi: int) -> np.ndarray:
    """Tokens of ``chunk`` (z, y, x) (:func:`to_tokens`, edge-padded) as float32 (n_tokens,
    voxels per token) mapped to [0, 1]: (v - lo) / (hi - lo) in float32 (the conversion, then
    one float32 subtraction and one division), for intensities spanning [``lo``, ``hi``], lo <
    hi; in one pass of :func:`.voxel_loops.normalized_tokens`."""
    if chunk.ndim != 3:
        raise ValueError(f"tokens are cut from 3D chunks, got shape {chunk.shape}")
    if chunk.dtype.kind == "b" or (chunk.dtype.kind == "f" and chunk.dtype.itemsize < 4):
        chunk = chunk.astype(np.float32)  # the loops take no bool or float16 (exact in float32)
    elif not chunk.dtype.isnative:
        chunk = chunk.astype(chunk.dtype.newbyteorder("="))
    grid = token_grid(chunk.shape, token_shape)
    out = np.empty((grid[0] * grid[1] * grid[2], token_shape[0] * token_shape[1] * token_shape[2]), np.float32)
    numba_support.loops("quantize.voxel_loops").normalized_tokens(
        chunk, np.array(token_shape, np.int64), np.float32(lo), np.float32(hi - lo), out)
    return out


def from_tokens(tokens: np.ndarray, shape: tuple[int, int, int], token_shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of :func:`to_tokens`: (n_tokens, prod(token_shape)) -> (D, H, W), cropped to ``shape``."""
    gz, gy, gx = token_grid(shape, token_shape)
    tz, ty, tx = token_shape
    full = tokens.reshape(gz, gy, gx, tz, ty, tx).transpose(0, 3, 1, 4, 2, 5).reshape(gz * tz, gy * ty, gx * tx)
    return full[: shape[0], : shape[1], : shape[2]]


def local_coordinates(token_shape: tuple[int, int, int]) -> np.ndarray:
    """Voxel-centre coordinates inside a token, in (-1, 1): shape (prod(token_shape), 3), float64."""
    axes = [(np.arange(t) + 0.5) / t * 2.0 - 1.0 for t in token_shape]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    return grid.reshape(-1, 3)
