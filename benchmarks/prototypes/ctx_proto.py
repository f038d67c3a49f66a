"""Issue 21 (v0.6 phase 1): bits of the real codec's bands (zero-block flags + values) with
static per-band stream tables vs neighbour/parent contexts (context_kernels), oracle (per
chunk, per (band, ctx) empirical tables, no table cost) and a table family fitted by Lloyd
clustering on one set of chunks and tested on another.

python benchmarks/prototypes/ctx_proto.py   (UNICOMPRESS_DATA)
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from zarr_unicompress.runtime.coders.ratio3d import Ratio3DCoder, z_band_split, _AIM, _FIXED_BYTES
from zarr_unicompress.runtime.entropy import context_kernels as K
from zarr_unicompress.runtime.entropy import context_loops as L
from zarr_unicompress.runtime.entropy.estimate_bits import group_bits
from zarr_unicompress.runtime.entropy.contexts import fill_scratch, scratch_band
from zarr_unicompress.runtime.entropy.groups import symbol_counts
from zarr_unicompress.runtime.quantize.band_units import BandUnits
from zarr_unicompress.runtime.quantize.rate_control import SizeEstimator
from zarr_unicompress.runtime.transform import cdf97
from zarr_unicompress.runtime.transform.wavelet_residual import levels_for, block_grid
from zarr_unicompress.default_model import default_student_blob
from zarr_unicompress.runtime.inr.model import load_model

DATA = os.environ.get("UNICOMPRESS_DATA", "/work/shared/data")
EDGES = np.array(K.LOCAL_EDGES, np.int64)


def chunk_list(name):
    if name == "fib":
        vol = np.load(f"{DATA}/flyem_fib_train.npy", mmap_mode="r")
        return [np.ascontiguousarray(vol[z:z + 32, y:y + 125, x:x + 250]) for z in (0, 64, 128, 192) for y in (0, 125) for x in (0,)][:8]
    vol = np.load(f"{DATA}/isbi2012_train.npy", mmap_mode="r")
    return [np.ascontiguousarray(vol[z:z + 16, y:y + 256, x:x + 256]) for z in (0, 14) for y in (0, 256) for x in (0, 256)]


def units_of(chunk, model):
    coder = Ratio3DCoder()
    lo, hi = int(chunk.min()), int(chunk.max())
    choice = coder._choose(chunk, lo, hi, chunk.nbytes / 16, model, "exact")
    levels = levels_for(chunk.shape)
    if choice is None:
        units, flat = BandUnits.about_mean(chunk, levels, True, lo, hi)
        return units, 0, levels, lo, hi
    return choice[2], choice[0], levels, lo, hi


def band_stats(units, z_levels, levels, depth, step):
    """per band: (static bits, ctx counts (N_CONTEXTS, ALPHABET), escape values, flag bits)"""
    nb = 1 + 3 * levels
    out = []
    scratch = {}
    for b in range(len(units.units)):
        flags, values = units.band_groups(b, step)
        nzb = units.units[b].shape[0]
        # band shape from block grid: units are blocks; reconstruct shape
        shape = units_shape[b]
        band = scratch_band(shape)
        k = b % nb
        parent = scratch.get(b - 3) if k >= 4 else None
        ctx = fill_scratch(flags, values.astype(np.int32), band, parent)
        scratch[b] = band
        sym = np.clip(values, -K.ALPHABET_HALF, K.ALPHABET_HALF) + K.ALPHABET_HALF
        counts = np.bincount(ctx * K.ALPHABET + sym, minlength=K.N_CONTEXTS * K.ALPHABET).reshape(K.N_CONTEXTS, K.ALPHABET)
        esc = np.abs(values[np.abs(values) >= K.ALPHABET_HALF]) - K.ALPHABET_HALF
        fb = group_bits(symbol_counts(flags.astype(np.int64))[1])
        vb = group_bits(symbol_counts(values.astype(np.int64))[1]) if len(values) else 0.0
        eb = group_bits(symbol_counts(esc.astype(np.int64))[1]) if len(esc) else 0.0
        out.append((fb, vb, counts, eb))
    return out


def h(c):
    c = c[c > 0].astype(np.float64)
    return float(-(c * np.log2(c / c.sum())).sum()) if c.size else 0.0


def fit_family(hists, k_tables, iters=12, seed=0):
    """Lloyd clustering of histograms (n, A) into k tables minimising cross-entropy."""
    hists = hists[hists.sum(1) > 0].astype(np.float64)
    rng = np.random.default_rng(seed)
    w = hists.sum(1)
    # init: sort by "spread" (share of zeros), quantiles
    zero = hists[:, K.ALPHABET_HALF] / w
    order = np.argsort(zero)
    labels = np.empty(len(hists), np.int64)
    labels[order] = np.arange(len(hists)) * k_tables // len(hists)
    for _ in range(iters):
        tables = np.stack([hists[labels == j].sum(0) if np.any(labels == j) else hists[rng.integers(len(hists))] for j in range(k_tables)])
        p = (tables + 0.02) / (tables + 0.02).sum(1, keepdims=True)
        cost = -(hists @ np.log2(p).T)
        labels = cost.argmin(1)
    return p


def quantize_tables(p):
    f = np.maximum(np.round(p * (1 << 14)), 1)
    # fix sum
    for row in f:
        d = (1 << 14) - row.sum()
        row[np.argmax(row)] += d
    return f / (1 << 14)


def ctx_bits(counts, logp):
    """per (ctx): min over family tables of cross-entropy + 5 bits selector, vs entropy+table."""
    total = 0.0
    for c in counts:
        n = c.sum()
        if n == 0:
            continue
        model = (-(c[None, :] * logp)).sum(1).min() + 6
        stream = h(c) + 16 * np.count_nonzero(c) + 8
        total += min(model, stream)
    return total


def flag_share(data):
    for name, rows in data.items():
        for step in sorted({s for _, s, _, _ in rows}):
            st = [x for ci, s, n, sts in rows if s == step for x in sts]
            fb = sum(x[0] for x in st)
            tot = sum(x[0] + x[1] for x in st)
            print(f"{name} step {step}: flag share {fb / tot:.3f}")


units_shape = None
if __name__ == "__main__":
    model = load_model(default_student_blob())
    steps = [3.0, 6.0, 12.0, 24.0, 48.0, 96.0]
    data = {}
    for name in ("fib", "isbi"):
        rows = []
        for ci, ch in enumerate(chunk_list(name)):
            units, zl, levels, lo, hi = units_of(ch, model)
            planes_shapes = cdf97.band_shapes(ch.shape, levels)
            from zarr_unicompress.runtime.transform import cdf97_z
            zs = cdf97_z.z_bands(ch.shape[0], zl) if zl else [slice(0, ch.shape[0])]
            units_shape = [(len(range(*s.indices(ch.shape[0]))),) + tuple(p[1:]) for s in zs for p in planes_shapes]
            for step in steps:
                st = band_stats(units, zl, levels, ch.shape[0], step)
                rows.append((ci, step, ch.size, st))
            print(name, ci, "z", zl, flush=True)
        data[name] = rows
    flag_share(data)
    for K_T in (32,):
        fams = {}
        for name in ("fib", "isbi"):
            hists = np.concatenate([c for ci, s, n, st in data[name] for fb, vb, c, eb in st if ci % 2 == 0])
            fams[name] = np.log2(quantize_tables(fit_family(hists, K_T)))
        hb = np.concatenate([c for name in ("fib", "isbi") for ci, s, n, st in data[name] for fb, vb, c, eb in st if ci % 2 == 0])
        fams["both"] = np.log2(quantize_tables(fit_family(hb, K_T)))
        for name in ("fib", "isbi"):
            for step in steps:
                test = [(n, st) for ci, s, n, st in data[name] if s == step and ci % 2 == 1]
                static = sum(fb + vb for n, st in test for fb, vb, c, eb in st)
                ratio = sum(n for n, st in test) * 8 / static
                oracle = sum(fb + sum(h(r) for r in c) + eb for n, st in test for fb, vb, c, eb in st)
                res = []
                for fam in ("fib", "isbi", "both"):
                    fit = sum(fb + min(vb, ctx_bits(c, fams[fam]) + eb) for n, st in test for fb, vb, c, eb in st)
                    res.append(fit / static)
                streamonly = sum(fb + min(vb, ctx_bits(c, np.full((1, K.ALPHABET), 1e9)) + eb) for n, st in test for fb, vb, c, eb in st)
                print(f"K{K_T} {name} step {step:5.1f} ratio {ratio:5.1f}: oracle {oracle/static:.3f} stream-only {streamonly/static:.3f} "
                      f"fam fib {res[0]:.3f} isbi {res[1]:.3f} both {res[2]:.3f}", flush=True)
