"""Context variants for ctx_proto.py (VAR=b2: the shipped context; b0/b1: previous-slice weight 0/1; a2: plus WW and NN):
VAR=b2 UNICOMPRESS_DATA=... PYTHONPATH=$PWD python benchmarks/prototypes/ctx_variants.py"""
import sys, numpy as np, numba
sys.argv = sys.argv[:1]
from zarr_unicompress.runtime.entropy import context_kernels as K, context_loops as L
from zarr_unicompress.runtime.numba_support import compiled_copy
inline = numba.njit(inline="always")
cap = inline(K._capped)
import os
VAR = os.environ["VAR"]

def ctx_a(band, z, y, x, parent, has_parent, classes):
    zi = z + 1; yi = y + 1; xi = x + 1
    local = (2 * _capped(band[zi, yi, xi - 1]) + 2 * _capped(band[zi, yi - 1, xi]) + _capped(band[zi, yi - 1, xi - 1])
             + _capped(band[zi, yi - 1, xi + 1]) + W_Z * _capped(band[zi - 1, yi, xi]))
    if xi >= 2:
        local += _capped(band[zi, yi, xi - 2])
    if yi >= 2:
        local += _capped(band[zi, yi - 2, xi])
    if local > 8 * CAP:
        local = 8 * CAP
    p = 0
    if has_parent:
        p = _capped(parent[zi, (y >> 1) + 1, (x >> 1) + 1])
        if p > 2:
            p = 2
    return classes[local] * 3 + p

def ctx_b(band, z, y, x, parent, has_parent, classes):
    zi = z + 1; yi = y + 1; xi = x + 1
    local = (2 * _capped(band[zi, yi, xi - 1]) + 2 * _capped(band[zi, yi - 1, xi]) + _capped(band[zi, yi - 1, xi - 1])
             + _capped(band[zi, yi - 1, xi + 1]) + W_Z * _capped(band[zi - 1, yi, xi]))
    if local > 8 * CAP:
        local = 8 * CAP
    p = 0
    if has_parent:
        p = _capped(parent[zi, (y >> 1) + 1, (x >> 1) + 1])
        if p > 2:
            p = 2
    return classes[local] * 3 + p

fn = {"a": ctx_a, "b": ctx_b}[VAR[0]]
wz = int(VAR[1:])
ctx = compiled_copy(inline, fn, _capped=cap, W_Z=wz, CAP=K.CAP)
L.band_contexts = compiled_copy(numba.njit, K.band_contexts, _context=ctx)
import runpy
runpy.run_path(str(__import__("pathlib").Path(__file__).parent / "ctx_proto.py"), run_name="__main__")
