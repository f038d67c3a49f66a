"""Which part of the context earns the bits: neighbour phases vs parent only (phase 1, issue 21).

Usage: python benchmarks/prototypes/context_variants.py NAME LZ
Fits model tables on half of the chunks (even indices) and measures on the other half (odd),
per step of scan.STEPS: bits of static per-band tables, of the 4-phase context (oracle and
fitted) and of parent-only classes (oracle and fitted), as shares of static.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from scan import SETS, STEPS  # noqa: E402
from volume_proto import (N_BTYPE, N_CLASS, N_PARENT, N_SYM, analyze, bits_static, blocks, chunks_of,  # noqa: E402
                          classes, h_bits, quantize, symbols, to_logp)


def keys(co, step, parent_only):
    qs = [quantize(b.data, step) for b in co.bands]
    out = []
    for b, q in zip(co.bands, qs):
        ph, cl = classes(q, qs[b.parent] if b.parent is not None else None)
        if parent_only:
            ph = np.zeros_like(ph)
            cl = cl % N_PARENT
        s, eb = symbols(q)
        k = (np.broadcast_to(ph, q.shape).astype(np.int64) * N_CLASS + cl) * N_SYM + s
        out.append((b.btype, np.bincount(k.ravel(), minlength=4 * N_CLASS * N_SYM).reshape(4 * N_CLASS, N_SYM),
                    eb.sum()))
    return qs, out


def main(name: str, lz: int) -> None:
    vol_name, shape = SETS[name]
    chunks = chunks_of(blocks()[vol_name], shape)
    for si, step in enumerate(STEPS):
        res = {}
        for parent_only in (False, True):
            model = np.zeros((N_BTYPE, 4 * N_CLASS, N_SYM), np.int64)
            test = []
            for c, ch in enumerate(chunks):
                qs, ks = keys(analyze(ch, lz), float(step), parent_only)
                if c % 2 == 0:
                    for bt, cnt, _ in ks:
                        model[bt] += cnt
                else:
                    test.append((qs, ks))
            logp = to_logp(model[None], True)[0]
            static = sum(bits_static(qs) for qs, _ in test)
            oracle = sum(sum(h_bits(r) for r in cnt) + eb for _, ks in test for _, cnt, eb in ks)
            fitted = sum((cnt * logp[bt]).sum() + eb for _, ks in test for bt, cnt, eb in ks)
            res[parent_only] = (static, oracle, fitted)
        n = sum(ch.size for c, ch in enumerate(chunks) if c % 2)
        s = res[False][0]
        print(f"{name} lz{lz} step {step:6.2f} ratio {n * 8 / s:6.1f}: 4-phase oracle {res[False][1] / s:.3f} "
              f"fitted {res[False][2] / s:.3f}; parent-only oracle {res[True][1] / s:.3f} fitted {res[True][2] / s:.3f}",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
