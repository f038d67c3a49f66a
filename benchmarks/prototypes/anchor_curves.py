"""Quick anchor RD curves for steering the 3D ratio-mode prototype (phase 1 of issue 21).

Usage: python benchmarks/prototypes/anchor_curves.py OUT.json
JPEG-XL per slice (effort 7) over a distance sweep and SPERR 3D (bpp mode) over a bpp sweep,
on the prototype's test blocks (see volume_proto.blocks). Prints (codec, block, ratio, PSNR).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import imagecodecs
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from volume_proto import blocks, psnr  # noqa: E402


def main(out: str) -> None:
    rows = []
    for name, vol in blocks().items():
        for d in [0.3, 0.5, 0.8, 1.2, 1.8, 2.6, 3.6, 5.0, 7.0, 10.0]:
            st = [imagecodecs.jpegxl_encode(s, distance=d, effort=7, numthreads=1) for s in vol]
            rec = np.stack([imagecodecs.jpegxl_decode(x, numthreads=1) for x in st])
            r = vol.nbytes / sum(len(x) for x in st)
            rows.append(("JPEG-XL", name, r, psnr(vol, rec)))
            print(rows[-1], flush=True)
        for bpp in [2.5, 1.6, 1.0, 0.7, 0.5, 0.35, 0.25, 0.17, 0.12]:
            st = imagecodecs.sperr_encode(vol.astype(np.float32), mode="bpp", level=bpp)
            rec = imagecodecs.sperr_decode(st)
            rec = np.clip(np.rint(np.asarray(rec, np.float64).reshape(vol.shape)), 0, 255)
            rows.append(("SPERR3D", name, vol.nbytes / len(st), psnr(vol, rec)))
            print(rows[-1], flush=True)
    Path(out).write_text(json.dumps(rows))


if __name__ == "__main__":
    main(sys.argv[1])
