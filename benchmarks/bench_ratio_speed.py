"""Single-thread CPU-time speed of the ratio mode's coder 3 at one ratio (default 16), learned part
on (default tables) and off, on both volumes chunked as benchmarks/bench_volume_rd.py chunks
them, with ratio, PSNR and (``--jxl``) JPEG-XL's decode of its stream bisected to that ratio.

CPU time (``time.process_time``, the median of ``--repeats``), so that other jobs on a shared
machine disturb it less than wall time (they still do: caches, memory bandwidth). To compare
two versions, run this script with PYTHONPATH at each (e.g. an export of the older commit,
``git archive <commit> | tar -x -C /tmp/base``), one after the other, twice, on the same
machine. Prints a table; with ``--jxl`` writes benchmarks/plots/ratio_speed.png.

    UNICOMPRESS_DATA=/work/shared/data PYTHONPATH=$PWD python benchmarks/bench_ratio_speed.py --jxl
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchors import load_volume, ratio_anchor  # noqa: E402
from metrics import psnr  # noqa: E402

from zarr_unicompress.bitstream import pack_chunk  # noqa: E402
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk  # noqa: E402
from zarr_unicompress.runtime.coders.ratio_ctx import RatioContextCoder  # noqa: E402

CHUNKS = {"fib": (32, 256, 256), "isbi": (30, 512, 512)}


def cpu_seconds(work, repeats: int) -> float:
    """Median CPU seconds of ``repeats`` calls of ``work``."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return sorted(times)[repeats // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volumes", nargs="+", default=["fib", "isbi"])
    parser.add_argument("--ratio", type=float, default=16.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jxl", action="store_true", help="also JPEG-XL's decode of its stream at the ratio")
    args = parser.parse_args()
    from numcodecs_ext import UniCompress

    model = UniCompress(ratio=8.0).runtime
    quality = QualitySettings(ratio=args.ratio)
    rows = []
    for name in args.volumes:
        vol = load_volume(name)
        grid = np.ndindex(*(-(-n // c) for n, c in zip(vol.shape, CHUNKS[name])))
        parts = [np.ascontiguousarray(vol[tuple(slice(i * c, min((i + 1) * c, n))
                                                for i, c, n in zip(index, CHUNKS[name], vol.shape))])
                 for index in grid]
        mb = vol.nbytes / 1e6
        for label, coder in (("on", RatioContextCoder()), ("off", RatioContextCoder(contexts=False))):
            def encode():
                return [pack_chunk(*coder.encode(p, model, quality)) for p in parts]

            streams = encode()  # (also the warm-up of both: compiled loops loaded before timing)
            rec = np.concatenate([decode_chunk(model, s).ravel() for s in streams])
            encode_s = cpu_seconds(encode, args.repeats)
            decode_s = cpu_seconds(lambda: [decode_chunk(model, s) for s in streams], args.repeats)
            quality_db = psnr(np.concatenate([p.ravel() for p in parts]), rec)
            rows.append((name, f"ours ({label})", mb / encode_s, mb / decode_s,
                         vol.nbytes / sum(map(len, streams)), quality_db))
            print(f"  {name} {label}: encode {rows[-1][2]:.1f}, decode {rows[-1][3]:.1f} MB/s", file=sys.stderr,
                  flush=True)
        if args.jxl:
            import imagecodecs

            jxl = ratio_anchor("JPEG-XL", vol, args.ratio, with_data=True, iterations=5)
            decode_s = cpu_seconds(lambda: [imagecodecs.jpegxl_decode(s, numthreads=1) for s in jxl.stream],
                                   args.repeats)
            rows.append((name, "JPEG-XL", float("nan"), mb / decode_s, jxl.ratio, jxl.psnr))
    print(f"\nCPU-time MB/s of raw voxels, one thread, ratio {args.ratio:g}\n")
    print("| volume | codec | encode MB/s | decode MB/s | ratio | PSNR dB |\n|---|---|---:|---:|---:|---:|")
    for name, codec, enc, dec, ratio, db in rows:
        print(f"| {name} | {codec} | {'' if np.isnan(enc) else f'{enc:.1f}'} | {dec:.1f} | {ratio:.3f} | {db:.3f} |")
    if args.jxl:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        labels = [f"{n}\n{c}" for n, c, *_ in rows]
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [0 if np.isnan(r[2]) else r[2] for r in rows], 0.4, label="encode")
        ax.bar(x + 0.2, [r[3] for r in rows], 0.4, label="decode")
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_ylabel("MB/s (CPU time, 1 thread)")
        ax.set_title(f"ratio {args.ratio:g}: coder 3 vs JPEG-XL decode")
        ax.legend()
        out = Path(__file__).resolve().parent / "plots" / "ratio_speed.png"
        fig.tight_layout()
        fig.savefig(out, dpi=110)
        print(f"# plot: {out}")


if __name__ == "__main__":
    main()
