"""Issue 21, next step measured (not integrated): how many bits the signs of nonzero detail values
would save with the signs of their W, N and previous-slice neighbours as context (27 contexts,
per chunk empirical, no table cost), as a share of the zeroth-order bits of the values.

    PYTHONPATH=$PWD python benchmarks/prototypes/sign_contexts.py
"""
import numpy as np
from zarr_unicompress.runtime.coders.ratio3d import Ratio3DCoder
from zarr_unicompress.runtime.coders.ratio_ctx import band_layout
from zarr_unicompress.runtime.transform.wavelet_residual import from_blocks, levels_for
from zarr_unicompress.runtime.inr.model import load_model
from zarr_unicompress.default_model import default_student_blob
model = load_model(default_student_blob())
fib = np.load('/work/shared/data/flyem_fib_train.npy', mmap_mode='r')
isbi = np.load('/work/shared/data/isbi2012_train.npy', mmap_mode='r')
def H(c):
    c = c[c > 0].astype(float); return float(-(c * np.log2(c / c.sum())).sum())
for name, ch in (("fib", np.ascontiguousarray(fib[96:128, :256, :256])), ("isbi", np.ascontiguousarray(isbi[:16, :256, :256]))):
    lo, hi = int(ch.min()), int(ch.max())
    zl, flat, units, est, step0 = Ratio3DCoder()._choose(ch, lo, hi, ch.nbytes / 16, model, "table", keep_2d=True)
    shapes, parents = band_layout(ch.shape, levels_for(ch.shape), zl)
    for step in (step0 / 3, step0, step0 * 3):
        groups = units.groups(step)
        tot_bits_est = 0; sign_plain = 0; sign_ctx = 0; nnz = 0
        for b, shape in enumerate(shapes):
            if b == 0: continue
            flags, vals = groups[2*b], groups[2*b+1]
            band = from_blocks(flags.astype(bool), vals.astype(np.int32), shape)
            s = np.sign(band)
            W = np.zeros_like(s); W[:, :, 1:] = s[:, :, :-1]
            N = np.zeros_like(s); N[:, 1:, :] = s[:, :-1, :]
            Z = np.zeros_like(s); Z[1:] = s[:-1]
            nz = s != 0
            key = ((W + 1) * 3 + (N + 1)) * 3 + (Z + 1)
            k = key[nz]; sg = (s[nz] > 0).astype(int)
            cnt = np.bincount(k * 2 + sg, minlength=54).reshape(27, 2)
            sign_ctx += sum(H(r) for r in cnt); sign_plain += H(cnt.sum(0)); nnz += nz.sum()
            _, c = np.unique(vals, return_counts=True); tot_bits_est += H(c)
        print(f"{name} step {step:.1f}: nonzero {nnz}, sign bits plain {sign_plain:.0f} ctx {sign_ctx:.0f} "
              f"(saves {sign_plain - sign_ctx:.0f} = {100*(sign_plain-sign_ctx)/tot_bits_est:.2f} % of the value bits {tot_bits_est:.0f})")
