"""z levels chosen per 2D band (the z transform commutes with the per-slice 2D one, so each
2D band may take its own z levels) vs one choice per chunk (phase 1, issue 21).

Usage: python benchmarks/prototypes/per_band_z.py NAME
Per chunk and step: 2D bands of the chunk; for each band and lz in 0..3 the static bits of its
z-bands at the step; per-band choice = the fewest bits per band; per-chunk = the fewest total.
Reconstruction exact (inverse z per band, then 2D synthesis). Prints RD per rule.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from scan import SETS, STEPS  # noqa: E402
from volume_proto import bits_static, blocks, chunks_of, quantize  # noqa: E402
from ztransform import forward_z, inverse_z, z_bands  # noqa: E402

from zarr_unicompress.runtime.transform import cdf97  # noqa: E402
from zarr_unicompress.runtime.transform.wavelet_residual import levels_for  # noqa: E402

LZS = (0, 1, 2, 3)


def main(name: str) -> None:
    vol_name, shape = SETS[name]
    chunks = chunks_of(blocks()[vol_name], shape)
    rules = {"chunk": [], "band": [], "lz0": []}
    for step in STEPS:
        acc = {r: [0.0, 0.0] for r in rules}
        for ch in chunks:
            flat = float(np.rint(ch.mean()))
            levels = levels_for(ch.shape)
            b2 = cdf97.analyze(ch, levels, flat)
            bits = np.zeros((len(b2), len(LZS)))
            recon = {}
            for li, lz in enumerate(LZS):
                for k, b in enumerate(b2):
                    zb = forward_z(b, lz)
                    q = quantize(zb, step)
                    bits[k, li] = sum(bits_static([q[zs]]) for zs in z_bands(b.shape[0], lz))
                    recon[k, lz] = inverse_z(q.astype(np.float32) * np.float32(step), lz)
            choice = {"chunk": [int(bits.sum(0).argmin())] * len(b2), "band": list(bits.argmin(1)),
                      "lz0": [0] * len(b2)}
            for r, pick in choice.items():
                rec = cdf97.synthesize([recon[k, LZS[p]] for k, p in enumerate(pick)], levels, ch.shape)
                rec = np.clip(np.rint(rec + np.float32(flat)), 0, 255)
                acc[r][0] += sum(bits[k, p] for k, p in enumerate(pick))
                acc[r][1] += float(((rec - ch.astype(np.float64)) ** 2).sum())
            if step == STEPS[6]:
                print("step", round(float(step), 1), "per-band choice", choice["band"], "chunk", choice["chunk"][0])
        n = sum(c.size for c in chunks)
        for r in rules:
            rules[r].append((n * 8 / acc[r][0], 10 * np.log10(255**2 / (acc[r][1] / n))))
    for r, pts in rules.items():
        pts = np.array(sorted(pts))
        print(r, " ".join(f"{np.interp(np.log(x), np.log(pts[:, 0]), pts[:, 1]):.2f}" for x in (4, 8, 16, 32, 64)))


if __name__ == "__main__":
    main(sys.argv[1])
