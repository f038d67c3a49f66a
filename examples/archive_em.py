"""The main job on a built-in default: archive a real EM volume with UniCompress and read it back lazily.

Usage::

    python examples/archive_em.py [--data PATH.npy] [--dest isbi_unicompress.zarr] [--ratio 8 | --max-error 2]

With no arguments it compresses the ISBI 2012 training volume (30 x 512 x 512 uint8, found in
../shared/data, $UNICOMPRESS_DATA or ~/.cache/zarr-unicompress) with the shipped default EM
model into a Zarr v3 array with sharding, then opens it with ``dask.array.from_zarr`` in a
fresh view and prints ratio, PSNR and timings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy EM volume (default: ISBI 2012)")
    parser.add_argument("--dest", default="isbi_unicompress.zarr")
    quality = parser.add_mutually_exclusive_group()
    quality.add_argument("--ratio", type=float, default=None)
    quality.add_argument("--max-error", type=int, default=None)
    args = parser.parse_args()
    if args.ratio is None and args.max_error is None:
        args.max_error = 2

    import dask.array as da

    from zarr_unicompress.cli import array_info
    from zarr_unicompress.data import em_volume_path
    from zarr_unicompress.pipeline import compress

    source = args.data or str(em_volume_path("isbi2012"))
    shutil.rmtree(args.dest, ignore_errors=True)
    summary = compress(source, args.dest, chunks=(16, 256, 256), shards=(32, 512, 512), max_error=args.max_error,
                       ratio=args.ratio)
    print(summary)
    print(json.dumps({k: v for k, v in array_info(args.dest).items() if k != "model_bytes_base64"}, indent=1))
    start = time.perf_counter()
    lazy = da.from_zarr(args.dest)
    decoded = lazy.compute()
    seconds = time.perf_counter() - start
    original = np.load(source, mmap_mode="r")
    err = np.abs(decoded.astype(np.int64) - original)
    print(f"lazy read with dask: {decoded.nbytes / 1e6 / seconds:.1f} MB/s; max |error| {err.max()}, "
          f"PSNR {10 * np.log10(255**2 / np.mean(err.astype(np.float64) ** 2)):.2f} dB")


if __name__ == "__main__":
    main()
