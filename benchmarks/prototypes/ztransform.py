"""The prototypes' names for the codec's CDF 9/7 lifting along z (runtime/transform/cdf97_z.py).

The prototypes were written against their own copy of this transform; it went into the package
unchanged (same coefficients, bit for bit), so they now call the package's one implementation.
"""

from __future__ import annotations

import numpy as np

from zarr_unicompress.runtime.transform import cdf97_z


def forward_z(a: np.ndarray, levels: int) -> np.ndarray:
    """(z, y, x) float32 -> its z-wavelet coefficients, ``levels`` levels, same shape."""
    return cdf97_z.forward(a, levels)


def inverse_z(b: np.ndarray, levels: int) -> np.ndarray:
    """Coefficients from :func:`forward_z` -> the (z, y, x) float32 volume (a new array)."""
    out = np.array(b, dtype=np.float32, copy=True)
    cdf97_z.inverse_in_place(out, levels)
    return out


z_bands = cdf97_z.z_bands
