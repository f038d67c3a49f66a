"""The main job on a built-in default: archive a real EM volume with UniCompress and read it back lazily.

Usage::

    python examples/archive_em.py [--data PATH.npy | --source auto|local|download|sample]
                                  [--dest isbi_unicompress.zarr] [--ratio 8 | --max-error 2]

With no arguments it compresses the ISBI 2012 training volume (30 x 512 x 512 uint8): a local
copy ($UNICOMPRESS_DATA, ../shared/data or ~/.cache/zarr-unicompress), else a checked download
into that cache, else the real 30 x 256 x 256 crop of it shipped with the package; it prints which.
The shipped default EM model writes a sharded Zarr v3 array, which is then opened with
``dask.array.from_zarr`` and compared with the source (ratio, PSNR, timings).

It never deletes anything: a destination that exists must be an array this job started (it
resumes it, or reuses it when finished); anything else is refused, so choose another --dest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy EM volume (default: ISBI 2012, see --source)")
    parser.add_argument("--source", choices=("auto", "local", "download", "sample"), default="auto",
                        help="where ISBI 2012 comes from without --data (default: the first that works)")
    parser.add_argument("--dest", default="isbi_unicompress.zarr")
    quality = parser.add_mutually_exclusive_group()
    quality.add_argument("--ratio", type=float, default=None)
    quality.add_argument("--max-error", type=int, default=None)
    args = parser.parse_args(argv)
    if args.ratio is None and args.max_error is None:
        args.max_error = 2

    import dask.array as da

    from zarr_unicompress.cli import array_info
    from zarr_unicompress.data import example_volume
    from zarr_unicompress.errors import UniCompressError
    from zarr_unicompress.pipeline import compress

    if args.data:
        original, described = np.load(args.data, mmap_mode="r", allow_pickle=False), args.data
    else:
        original, described = example_volume(args.source)
    print(f"source: {described}")
    chunks = tuple(min(c, s) for c, s in zip((16, 256, 256), original.shape))
    # shards: whole multiples of the chunks, no larger than the volume rounded up to chunks
    shards = tuple(c * max(1, min(m, -(-s // c))) for c, m, s in zip(chunks, (2, 2, 2), original.shape))
    try:
        summary = compress(original, args.dest, chunks=chunks, shards=shards, max_error=args.max_error,
                           ratio=args.ratio, progress=False)
    except UniCompressError as exc:  # e.g. the destination holds something else: never deleted
        print(f"archive_em: error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    print(json.dumps({k: v for k, v in array_info(args.dest).items() if k != "model_bytes_base64"}, indent=1))
    start = time.perf_counter()
    decoded = da.from_zarr(args.dest).compute()
    seconds = time.perf_counter() - start
    err = np.abs(decoded.astype(np.int64) - original)
    mse = float(np.mean(err.astype(np.float64) ** 2))
    psnr = "inf" if mse == 0 else f"{10 * np.log10(255**2 / mse):.2f}"
    print(f"lazy read with dask: {decoded.nbytes / 1e6 / seconds:.1f} MB/s; max |error| {err.max()}, PSNR {psnr} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
