"""Per-token priors of the paper: raw intensities and 3D wavelet low/high-frequency subbands.

A one-level 3D Haar transform (PyWavelets) of a normalised chunk gives 8 subbands of half
resolution; the ``aaa`` band is the low-frequency prior and the 7 others the high-frequency
prior. Each token of ``token_shape`` voxels maps to a block of ``token_shape / 2``
coefficients in every band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pywt

from ..runtime.inr.tokens import to_tokens, token_grid

_HIGH_BANDS = ("aad", "ada", "add", "daa", "dad", "dda", "ddd")


@dataclass(frozen=True)
class TokenPriors:
    """Priors of N tokens (float32 arrays).

    Attributes:
        raw: (N, V) normalised intensities in [0, 1], V = prod(token_shape).
        low: (N, V/8) Haar approximation coefficients.
        high: (N, 7V/8) Haar detail coefficients, bands in ``_HIGH_BANDS`` order.
    """

    raw: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def __len__(self) -> int:
        return len(self.raw)

    @staticmethod
    def concat(parts: list[TokenPriors]) -> TokenPriors:
        return TokenPriors(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("raw", "low", "high")))


def normalise(chunk: np.ndarray) -> np.ndarray:
    """Map a chunk to [0, 1] with its own min/max (as the codec does); float32."""
    lo, hi = float(chunk.min()), float(chunk.max())
    return ((chunk.astype(np.float32) - lo) / max(hi - lo, 1.0)).astype(np.float32)


def token_priors(chunk: np.ndarray, token_shape: tuple[int, int, int]) -> TokenPriors:
    """Raw, low- and high-frequency priors of every token of a (D, H, W) chunk."""
    if any(t % 2 for t in token_shape):
        raise ValueError(f"token_shape {token_shape} must be even along every axis for the Haar priors")
    x01 = normalise(chunk)
    grid = token_grid(x01.shape, token_shape)
    padded = np.pad(x01, [(0, g * t - s) for g, t, s in zip(grid, token_shape, x01.shape)], mode="edge")
    bands = pywt.dwtn(padded, "haar", axes=(0, 1, 2))
    half = tuple(t // 2 for t in token_shape)
    low = to_tokens(bands["aaa"].astype(np.float32), half)
    high = np.concatenate([to_tokens(bands[b].astype(np.float32), half) for b in _HIGH_BANDS], axis=1)
    return TokenPriors(raw=to_tokens(padded, token_shape), low=low, high=high)
