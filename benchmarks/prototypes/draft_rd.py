"""Real stream sizes of the draft 3D coder (wavelet3d_draft) vs today's codec, per volume.

Usage: python benchmarks/prototypes/draft_rd.py NAME [RATIOS...]  (NAME as in scan.py)
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from scan import SETS  # noqa: E402
from volume_proto import blocks, chunks_of  # noqa: E402
from wavelet3d_draft import decode, encode  # noqa: E402


def main(name: str, ratios: list[float], force: int | None = None) -> None:
    vol_name, shape = SETS[name]
    chunks = chunks_of(blocks()[vol_name], shape)
    n = sum(c.size for c in chunks)
    for r in ratios:
        total, sse, picks = 0, 0.0, Counter()
        t0 = time.perf_counter()
        for ch in chunks:
            (lz, step, flat, tables, words, rans, size), levels = encode(ch, r, None if force is None else [force])
            rec = decode(ch.shape, ch.dtype, levels, lz, step, flat, tables, words, rans)
            total += size
            sse += float(((rec.astype(np.float64) - ch) ** 2).sum())
            picks[lz] += 1
        print(f"{name} ratio {r}: reached {n / total:.2f}, PSNR {10 * np.log10(255**2 / (sse / n)):.2f} dB, "
              f"z levels {dict(sorted(picks.items()))}, {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    args = sys.argv[2:]
    force = None
    if args and args[0].startswith("lz="):
        force = int(args.pop(0)[3:])
    main(sys.argv[1], [float(a) for a in args] or [4, 8, 16, 32, 64], force)
