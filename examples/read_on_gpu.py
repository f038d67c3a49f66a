"""Archive a real EM volume and read it back in bulk, reconstructing on the GPU where there is one.

Usage::

    python examples/read_on_gpu.py [--data PATH.npy] [--dest isbi_bulk.zarr] [--ratio 8]
        [--device cuda|cpu|none] [--processes N] [--threads]

Writes the ISBI 2012 volume (or ``--data``) with the default model into an unsharded Zarr v3
array of (10, 256, 256) chunks, then reads it back with
:func:`zarr_unicompress.bulk_read.read_array`: the chunks' streams are entropy-decoded in N
worker processes (``--threads``: N threads of this process) and reconstructed on ``--device`` (default: cuda where torch sees one, else
none, i.e. wholly in the workers with NumPy). Prints the read rate and checks that the voxels
equal zarr's own read.
"""

from __future__ import annotations

import argparse
import shutil
import time


def main() -> None:
    import numpy as np
    import torch
    import zarr

    from zarr_unicompress import UniCompressCodec
    from zarr_unicompress.bulk_read import read_array
    from zarr_unicompress.data import load_em_volume

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy EM volume (default: ISBI 2012)")
    parser.add_argument("--dest", default="isbi_bulk.zarr")
    parser.add_argument("--ratio", type=float, default=8.0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "none")
    parser.add_argument("--processes", type=int, default=None, help="entropy-decoding workers (default: cores - 1)")
    parser.add_argument("--threads", action="store_true", help="the workers are threads (streams of v0.4.0 on)")
    args = parser.parse_args()

    volume = np.load(args.data) if args.data else np.asarray(load_em_volume("isbi2012"))
    shutil.rmtree(args.dest, ignore_errors=True)
    array = zarr.create_array(args.dest, shape=volume.shape, chunks=(10, 256, 256), dtype=volume.dtype,
                              serializer=UniCompressCodec(ratio=args.ratio), compressors=None)
    array[:] = volume
    device = None if args.device == "none" else args.device
    start = time.perf_counter()
    decoded = read_array(args.dest, device=device, processes=args.processes, threads=args.threads)
    seconds = time.perf_counter() - start
    same = np.array_equal(decoded, array[:])
    print(f"read {volume.shape} {volume.dtype} ({volume.nbytes / 1e6:.1f} MB) in {seconds:.2f} s "
          f"({volume.nbytes / 1e6 / seconds:.0f} MB/s, worker start-up included; {'threads' if args.threads else 'processes'}), "
          f"reconstruction on "
          f"{device or 'the workers (NumPy)'}; equal to zarr's read: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
