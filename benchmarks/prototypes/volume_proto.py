"""Phase-1 prototype of the 3D ratio mode (issue 21): transforms, quantiser, bit estimates.

Not a codec: it computes, per chunk and quantiser step, the reconstruction (PSNR exact) and
the estimated coded size under several entropy-coding schemes, so that transforms and context
models can be compared before any stream format exists.

Transforms: 2D CDF 9/7 per slice (runtime.cdf97, today's) after ``lz`` levels of CDF 9/7
along z with symmetric extension (ztransform.py); lz = 0 is today's transform.

Schemes (bits per chunk):
- ``static``: per band (z-band x 2D band) one zeroth-order table in the stream
  (n * H0 + ~20 bits per distinct symbol + 8 per group): about today's coder.
- ``ctx-oracle``: per (band, context class) the empirical entropy, no table cost (lower bound).
- ``ctx-model``: per (band type, context class, step bucket) integer tables fitted on training
  chunks (the learned per-array model); cross-entropy of the chunk's symbols.
Context classes: coefficients of a band are coded in 4 phases (z parity x in-plane
checkerboard); a coefficient's class comes from the |q| of its already decoded face neighbours
in the band (same slice 4-neighbours, co-located in the previous/next slice) and of its parent
(same orientation, next coarser 2D level, same z-band). Every class is computable by the
decoder before it decodes the phase, so each (band, phase, class) is one rANS group.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ztransform import forward_z, inverse_z, z_bands  # noqa: E402

from zarr_unicompress.runtime.transform import cdf97  # noqa: E402
from zarr_unicompress.runtime.transform.wavelet_residual import levels_for  # noqa: E402

DATA = Path(os.environ.get("UNICOMPRESS_DATA", "/work/shared/data"))
ROUNDING = 0.35
M = 40  # symbols -M..M coded by tables, beyond: escape (Exp-Golomb bits)
N_NEIGH = 6  # neighbour-activity classes
N_PARENT = 3  # parent classes
N_CLASS = N_NEIGH * N_PARENT


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def blocks() -> dict[str, np.ndarray]:
    fib = np.load(DATA / "flyem_fib_train.npy", mmap_mode="r")
    isbi = np.load(DATA / "isbi2012_train.npy", mmap_mode="r")
    return {"fib": np.ascontiguousarray(fib[:128]), "isbi": np.ascontiguousarray(isbi)}


def chunks_of(vol: np.ndarray, shape: tuple[int, int, int]) -> list[np.ndarray]:
    out = []
    for z in range(0, vol.shape[0], shape[0]):
        for y in range(0, vol.shape[1], shape[1]):
            for x in range(0, vol.shape[2], shape[2]):
                out.append(np.ascontiguousarray(vol[z:z + shape[0], y:y + shape[1], x:x + shape[2]]))
    return out


@dataclass
class Band:
    data: np.ndarray  # float32 (z, y, x)
    zband: int  # 0 = z-low (or 2D only), 1.. = z-high coarse to fine
    zkind: int  # 0: 2D only; 1..3: z-low after that many z levels; 4..6: z-high of z level 1..3
    level: int  # 2D level: 0 approximation, 1 finest detail .. L coarsest
    orient: int  # 0 approx, 1 H, 2 V, 3 D
    parent: int | None = None  # index of the parent band
    btype: int = 0

    def __post_init__(self):
        ok = 0 if self.orient == 3 else 1
        lev = min(self.level, 4)
        self.btype = (self.zkind * 5 + lev) * 2 + (ok if self.level else 0)  # < N_BTYPE


@dataclass
class Coeffs:
    bands: list[Band]
    base: float
    lz: int
    levels: int
    shape: tuple[int, int, int]
    zslices: list[slice] = field(default_factory=list)


def analyze(chunk: np.ndarray, lz: int) -> Coeffs:
    base = float(np.rint(chunk.mean()))
    z = forward_z(chunk.astype(np.float32) - np.float32(base), lz) if lz else chunk
    levels = levels_for(chunk.shape)
    b2 = cdf97.analyze(z, levels, 0.0 if lz else base)
    zs = z_bands(chunk.shape[0], lz)
    bands: list[Band] = []
    nz = len(zs)
    for j, zsl in enumerate(zs):
        zkind = (len(zs) - 1 if j == 0 else 3 + len(zs) - j)
        first = len(bands)
        for k, b in enumerate(b2):
            if k == 0:
                level, orient = 0, 0
            else:
                level = levels - (k - 1) // 3
                orient = 1 + (k - 1) % 3
            bands.append(Band(np.ascontiguousarray(b[zsl]), j, zkind, level, orient))
        for k in range(4, len(b2)):  # parent: 3 bands earlier (next coarser level)
            bands[first + k].parent = first + k - 3
    return Coeffs(bands, base, lz, levels, chunk.shape, zs)


def quantize(c: np.ndarray, step: float) -> np.ndarray:
    s = c / np.float32(step)
    s += np.copysign(np.float32(ROUNDING), s)
    return s.astype(np.int32)


def reconstruct(co: Coeffs, qs: list[np.ndarray], step: float, offset: float = 0.0) -> np.ndarray:
    levels, nb = co.levels, 1 + 3 * co.levels
    full = [np.empty((co.shape[0],) + co.bands[k].data.shape[1:], np.float32) for k in range(nb)]
    for i, (b, q) in enumerate(zip(co.bands, qs)):
        v = q.astype(np.float32)
        if offset:
            v -= np.sign(v) * np.float32(offset)
        full[i % nb][co.zslices[b.zband]] = v * np.float32(step)
    rec = cdf97.synthesize(full, levels, co.shape)
    if co.lz:
        rec = inverse_z(rec, co.lz)
    return np.clip(np.rint(rec + np.float32(co.base)), 0, 255)


def _shift(a: np.ndarray, axis: int, d: int) -> np.ndarray:
    """a shifted by d along axis, zero filled: out[i] = a[i - d]."""
    out = np.zeros_like(a)
    n = a.shape[axis]
    if abs(d) >= n:
        return out
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    if d > 0:
        src[axis], dst[axis] = slice(0, n - d), slice(d, n)
    else:
        src[axis], dst[axis] = slice(-d, n), slice(0, n + d)
    out[tuple(dst)] = a[tuple(src)]
    return out


def phases(shape: tuple[int, int, int]) -> np.ndarray:
    z, y, x = np.indices(shape, sparse=True)
    return (z % 2) * 2 + (y + x) % 2


NEIGH_EDGES = np.array([0, 1, 2, 4, 7, 12])  # act >= edge -> class
PARENT_EDGES = np.array([0, 1, 3])


def classes(q: np.ndarray, parent_q: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(phase, class) per coefficient of band q (z, y, x)."""
    a = np.minimum(np.abs(q), 16).astype(np.int16)
    ph = phases(q.shape)
    act = np.zeros(q.shape, np.int16)
    for p in range(4):  # neighbours decoded before phase p
        sel = ph == p
        dec = (ph < p)
        ad = a * dec
        s = np.zeros(q.shape, np.int16)
        for axis in (0, 1, 2):
            for d in (1, -1):
                w = 2 if axis else 2
                s += w * _shift(ad, axis, d)
        act[sel] = s[sel]
    n_cls = np.searchsorted(NEIGH_EDGES, act, side="right") - 1
    if parent_q is not None:
        pa = np.minimum(np.abs(parent_q), 16)
        up = np.repeat(np.repeat(pa, 2, axis=1), 2, axis=2)[:, : q.shape[1], : q.shape[2]]
        p_cls = np.searchsorted(PARENT_EDGES, up, side="right") - 1
    else:
        p_cls = np.zeros(q.shape, np.int64)
    return ph, (n_cls * N_PARENT + p_cls).astype(np.int16)


def symbols(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table symbols 0..2M+2 (index = q + M + 1, escapes at 0 and 2M+2) and escape bits."""
    s = np.clip(q, -M - 1, M + 1) + M + 1
    ex = np.abs(q) - M - 1
    esc = ex >= 0
    bits = np.where(esc, 2 * np.floor(np.log2(ex + 1.0)) + 1, 0.0)
    return s.astype(np.int64), bits


N_SYM = 2 * M + 3


def step_bucket(step: float) -> int:
    return int(np.clip(round(3 * math.log2(step)), -6, 24)) + 6


N_BUCKET = 31
N_BTYPE = 70


def chunk_stats(co: Coeffs, step: float):
    """Per coefficient arrays: (btype, phase, class, symbol), escape bits, band id."""
    qs = [quantize(b.data, step) for b in co.bands]
    rows = []
    for i, (b, q) in enumerate(zip(co.bands, qs)):
        parent = qs[b.parent] if b.parent is not None else None
        ph, cl = classes(q, parent)
        s, eb = symbols(q)
        rows.append((i, b.btype, ph.ravel() if ph.size == q.size else np.broadcast_to(ph, q.shape).ravel(),
                     cl.ravel(), s.ravel(), eb.ravel()))
    return qs, rows


def h_bits(counts: np.ndarray) -> float:
    c = counts[counts > 0].astype(np.float64)
    n = c.sum()
    return float(-(c * np.log2(c / n)).sum())


def bits_static(qs: list[np.ndarray]) -> float:
    total = 0.0
    for q in qs:
        v, c = np.unique(q, return_counts=True)
        total += h_bits(c) + 20 * len(v) + 8 if len(v) > 1 else 8
    return total


def bits_oracle(rows) -> float:
    total = 0.0
    for i, bt, ph, cl, s, eb in rows:
        key = (ph.astype(np.int64) * N_CLASS + cl) * N_SYM + s
        c = np.bincount(key, minlength=4 * N_CLASS * N_SYM).reshape(4 * N_CLASS, N_SYM)
        total += sum(h_bits(r) for r in c) + eb.sum()
    return total


def accumulate(model: np.ndarray, rows, step: float) -> None:
    sb = step_bucket(step)
    for i, bt, ph, cl, s, eb in rows:
        key = cl.astype(np.int64) * N_SYM + s
        model[sb, bt] += np.bincount(key, minlength=N_CLASS * N_SYM).reshape(N_CLASS, N_SYM)


def to_logp(model: np.ndarray, use_bucket: bool = True) -> np.ndarray:
    """-log2 p per (bucket, btype, class, symbol) with integer 14-bit-like flooring."""
    m = model.astype(np.float64)
    if not use_bucket:
        m = np.broadcast_to(m.sum(0, keepdims=True), m.shape)
    p = m + 0.05
    p /= p.sum(-1, keepdims=True)
    p = np.maximum(np.round(p * 2**14), 1) / 2**14
    return -np.log2(p)


def bits_model(logp: np.ndarray, rows, step: float) -> float:
    sb = step_bucket(step)
    total = 0.0
    for i, bt, ph, cl, s, eb in rows:
        total += logp[sb, bt][cl, s].sum() + eb.sum()
    return total
