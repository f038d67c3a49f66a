"""Phase-1 scan: per chunk, z levels 0..3 and a grid of quantiser steps: SSE and bit estimates.

Usage: python benchmarks/prototypes/scan.py NAME OUT.npz [LZ ...]  (NAME: fib | isbi | fib64 | isbi30)
Saves sse[chunk, lz, step], static[...], oracle[...], counts[chunk, lz, step, btype, class, sym],
escape bits[...], voxels per chunk.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from volume_proto import (N_BTYPE, N_CLASS, N_SYM, analyze, bits_oracle, bits_static, blocks,  # noqa: E402
                          chunk_stats, chunks_of, reconstruct)

STEPS = np.geomspace(3.0, 120.0, 10)
SETS = {"fib": ("fib", (32, 256, 256)), "fib64": ("fib", (64, 128, 128)),
        "isbi": ("isbi", (16, 256, 256)), "isbi30": ("isbi", (30, 512, 512))}


def main(name: str, out: str, lzs=(0, 2)) -> None:
    vol_name, shape = SETS[name]
    vol = blocks()[vol_name]
    chunks = chunks_of(vol, shape)
    nc, nl, ns = len(chunks), len(lzs), len(STEPS)
    sse = np.zeros((nc, nl, ns)); static = np.zeros_like(sse); oracle = np.zeros_like(sse); esc = np.zeros_like(sse)
    counts = np.zeros((nc, nl, ns, N_BTYPE, 4 * N_CLASS, N_SYM), np.int64)  # class key: phase * N_CLASS + class
    for c, ch in enumerate(chunks):
        for li, lz in enumerate(lzs):
            co = analyze(ch, lz)
            for si, step in enumerate(STEPS):
                qs, rows = chunk_stats(co, float(step))
                rec = reconstruct(co, qs, float(step))
                sse[c, li, si] = np.sum((rec - ch.astype(np.float64)) ** 2)
                static[c, li, si] = bits_static(qs)
                oracle[c, li, si] = bits_oracle(rows)
                for i, bt, ph, cl, s, eb in rows:
                    key = (ph.astype(np.int64) * N_CLASS + cl) * N_SYM + s
                    counts[c, li, si, bt] += np.bincount(key, minlength=4 * N_CLASS * N_SYM).reshape(4 * N_CLASS, N_SYM)
                    esc[c, li, si] += eb.sum()
            print(name, c, lz, flush=True)
    np.savez_compressed(out, sse=sse, static=static, oracle=oracle, esc=esc, counts=counts, steps=STEPS,
                        voxels=np.array([ch.size for ch in chunks]), lzs=np.array(lzs))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], tuple(int(v) for v in sys.argv[3:]) or (0, 1, 2, 3))
