"""Per-array rate allocation (one quantiser step for the whole array, read from a rate curve
fitted on half of its chunks) vs today's per-chunk budgets (phase 1, issue 21).

Usage: python benchmarks/prototypes/array_step.py SCAN.npz   (scan.py output, static bits)
For each target ratio R: (a) per-chunk budgets: each chunk gets the step at which its own
estimate is nbytes/R; (b) array step: the step at which the even chunks' total is their
nbytes/R, applied to all chunks. z levels per chunk: the fewest bits at the step (best rule).
Prints reached ratio and PSNR of both (interpolated in log step between scan.STEPS).
"""
from __future__ import annotations

import sys

import numpy as np


def interp_logstep(steps, values, s):
    return np.exp(np.interp(np.log(s), np.log(steps), np.log(values)))


def main(path: str) -> None:
    d = np.load(path)
    steps, vox = d["steps"], d["voxels"]
    bits = d["static"].min(1)  # chunk, step (best z levels)
    pick = d["static"].argmin(1)
    sse = np.take_along_axis(d["sse"], pick[:, None, :], 1)[:, 0]
    fine = np.geomspace(steps[0], steps[-1], 400)
    b = np.array([[interp_logstep(steps, bits[c], s) for s in fine] for c in range(len(vox))])
    e = np.array([[interp_logstep(steps, np.maximum(sse[c], 1e-9), s) for s in fine] for c in range(len(vox))])
    n = vox.sum()
    print(f"{path}: {len(vox)} chunks")
    for r in (4, 8, 16, 32, 64):
        # (a) per-chunk budgets
        idx = [int(np.argmin(np.abs(b[c] - vox[c] * 8 / r))) for c in range(len(vox))]
        ra = n * 8 / sum(b[c, i] for c, i in enumerate(idx))
        pa = 10 * np.log10(255**2 / (sum(e[c, i] for c, i in enumerate(idx)) / n))
        # (b) array step from the even chunks
        even = np.arange(len(vox)) % 2 == 0
        i = int(np.argmin(np.abs(b[even].sum(0) - vox[even].sum() * 8 / r)))
        rb = n * 8 / b[:, i].sum()
        pb = 10 * np.log10(255**2 / (e[:, i].sum() / n))
        sizes = b[:, i] / (vox * 8 / r)
        print(f"R {r:3d}: per-chunk budgets ratio {ra:5.2f} PSNR {pa:.2f} | array step ratio {rb:5.2f} PSNR {pb:.2f}"
              f" (chunk size / budget {sizes.min():.2f}-{sizes.max():.2f})")


if __name__ == "__main__":
    main(sys.argv[1])
