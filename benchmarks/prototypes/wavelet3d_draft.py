"""Draft of the 3D ratio-mode coder on today's runtime pieces (phase 1; moved into the
runtime's coders package in phase 2): z levels chosen per chunk by the step each needs for
the budget, bands (z-band x 2D band) coded with the zero-block groups and stream tables of
today's ratio mode.

encode(vol, ratio) -> (lz, step, flat, tables, words, uses_rans); decode(...) -> volume.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ztransform import forward_z, inverse_z, z_bands  # noqa: E402

from zarr_unicompress.runtime.transform import cdf97  # noqa: E402
from zarr_unicompress.runtime.entropy.groups import GroupDecoder, encode_groups  # noqa: E402
from zarr_unicompress.runtime.quantize.band_units import BandUnits  # noqa: E402
from zarr_unicompress.runtime.quantize.rate_control import SizeEstimator, next_step  # noqa: E402
from zarr_unicompress.runtime import numba_support  # noqa: E402
from zarr_unicompress.runtime.transform.wavelet_residual import ZERO_BLOCK, block_grid, levels_for  # noqa: E402

from zarr_unicompress.runtime.entropy import groups as entropy  # noqa: E402

entropy._MAX_GROUPS = 512  # draft only: (lz + 1) * (1 + 3 * levels) bands, 2 groups each

import os  # noqa: E402

MAX_Z_LEVELS = int(os.environ.get('DRAFT_MAX_Z', 3))
EXTRA_LEVELS = int(os.environ.get('DRAFT_EXTRA_LEVELS', 0))
FIXED_BYTES = 48


def z_levels_max(z: int) -> int:
    n, lz = z, 0
    while n >= 2 and lz < MAX_Z_LEVELS:
        n, lz = -(-n // 2), lz + 1
    return lz


def band_shapes3(shape, lz, levels):
    shapes2 = cdf97.band_shapes(shape, levels)
    return [(zs.stop - zs.start, y, x) for zs in z_bands(shape[0], lz) for _, y, x in shapes2]


def units_of(vol: np.ndarray, lz: int, levels: int, flat: int, zero_blocks: bool) -> BandUnits:
    if lz == 0:
        return BandUnits.of_signal(vol, levels, float(flat), zero_blocks)
    x = forward_z(vol.astype(np.float32) - np.float32(flat), lz)
    b2 = cdf97.analyze(x, levels, 0.0)
    return BandUnits.of([np.ascontiguousarray(b[zs]) for zs in z_bands(vol.shape[0], lz) for b in b2], zero_blocks)


def encode(vol: np.ndarray, ratio: float, candidates=None):
    levels = min(levels_for(vol.shape) + EXTRA_LEVELS, 5)
    lo, hi = int(vol.min()), int(vol.max())
    flat = int(np.clip(np.rint(vol.mean()), lo, hi))
    budget = vol.nbytes / ratio
    zero_blocks = vol.size >= 1 << 17
    pay = lambda size: 8 * (size - FIXED_BYTES)  # noqa: E731
    best = None
    for lz in (candidates if candidates is not None else range(z_levels_max(vol.shape[0]) + 1)):
        units = units_of(vol, lz, levels, flat, zero_blocks)
        est = SizeEstimator(units)
        step = est.step_for(pay(0.9925 * budget), hi - lo)
        if best is None or step < best[1]:
            best = (lz, step, units, est)
    lz, step, units, est = best
    tried = []
    out = None
    for _ in range(8):
        tables, words, uses_rans = encode_groups(units.groups(step))
        size = len(tables) + len(words) + FIXED_BYTES
        tried.append((step, size))
        if size <= budget and (out is None or size > out[-1]):
            out = (lz, step, flat, tables, words, uses_rans, size)
        if 0.98 * budget <= size <= budget:
            break
        if len(tried) == 1:
            bias = max(pay(size), 1.0) / max(est.bits(step), 1.0)
            step = est.step_for(pay(0.9925 * budget) / bias, hi - lo, guess=step)
        else:
            step = next_step(tried, budget)
    return out, levels


def decode(shape, dtype, levels, lz, step, flat, tables, words, uses_rans, lo=0, hi=255):
    dec = GroupDecoder(tables, words, uses_rans)
    shapes2 = cdf97.band_shapes(shape, levels)
    full = [np.empty(s, np.float32) for s in shapes2]
    zs_list = z_bands(shape[0], lz)
    for j, zs in enumerate(zs_list):
        for k, (_, y, x) in enumerate(shapes2):
            bshape = (zs.stop - zs.start, y, x)
            nonzero = dec.next(math.prod(block_grid(bshape)), dtype=np.uint8, magnitude_limit=2).view(np.bool_)
            values = dec.next_narrow(np.count_nonzero(nonzero) * ZERO_BLOCK**2)
            band = np.empty(bshape, np.float32)
            numba_support.loops("transform.synthesis_loops").dequantize_blocks(nonzero.view(np.uint8), values,
                                                                              np.float32(step), band)
            full[k][zs] = band
    dec.finish()
    rec = cdf97.synthesize(full, levels, shape)
    if lz:
        rec = inverse_z(rec, lz)
    rec += np.float32(flat)
    np.rint(rec, out=rec)
    np.clip(rec, lo, hi, out=rec)
    return rec.astype(dtype)
