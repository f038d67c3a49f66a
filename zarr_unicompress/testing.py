"""Helpers shared by the test suite and the benchmarks (no test framework needed)."""

from __future__ import annotations

import numpy as np


def random_crop(volume: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A random crop of a (z, y, x) uint8 ``volume`` (1-30 x 1-299 x 1-299 voxels, within its
    shape) in one of uint8, uint16 (x 257), int16 (x 100 - 12000) and int8 (- 128), C-contiguous,
    and a ratio drawn log-uniformly from 1.5-100: the cases that check the ratio mode's
    budgets on odd shapes and dtypes."""
    shape = (int(rng.integers(1, 31)), int(rng.integers(1, 300)), int(rng.integers(1, 300)))
    corner = [int(rng.integers(0, s - n + 1)) for s, n in zip(volume.shape, shape)]
    chunk = volume[tuple(slice(c, c + n) for c, n in zip(corner, shape))]
    dtype = rng.choice(["uint8", "uint16", "int16", "int8"])
    if dtype == "uint16":
        chunk = chunk.astype(np.uint16) * 257
    elif dtype == "int16":
        chunk = chunk.astype(np.int16) * 100 - 12000
    elif dtype == "int8":
        chunk = (chunk.astype(np.int16) - 128).astype(np.int8)
    ratio = float(np.exp(rng.uniform(np.log(1.5), np.log(100))))
    return np.ascontiguousarray(chunk), ratio
