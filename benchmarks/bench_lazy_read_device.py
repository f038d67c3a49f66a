"""Lazy reads through zarr and dask with the reconstruction on a torch device (GPU) or in NumPy.

    python benchmarks/bench_lazy_read_device.py [--data PATH.npy] [--tiles 2 2 4] [--ratio 8]
        [--workers 8 15] [--device cuda] [--workdir /tmp/unicompress-lazy-device]

The real EM volume, tiled as in bench_pipeline.py, is written once to a Zarr v3 array with
(30, 512, 512) chunks and the UniCompress serializer (default model, ``--ratio``). Each row
reads it back with ``da.from_zarr(DEST).sum().compute()`` on a LocalCluster of W one-thread
worker processes, with ``UNICOMPRESS_DECODE_DEVICE`` unset (NumPy) or set to ``--device``
(each worker reconstructs its chunks there; the ANS stage stays on its CPU core), and on the
threaded scheduler of this process. MB/s of decoded voxels, second of two reads (start-up and
model loading not counted). Last, :func:`zarr_unicompress.bulk_read.read_array` of the whole
array with a running ChunkOpener of max(W) processes, reconstructing on the device or (numpy)
wholly in the worker processes (second of two reads). ``same`` says whether the decoded array
equals the first NumPy one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np


def timed_read(path: Path) -> tuple[float, np.ndarray]:
    import dask.array as da

    lazy = da.from_zarr(str(path))
    lazy.sum().compute()
    start = time.perf_counter()
    lazy.sum().compute()
    rate = lazy.nbytes / 1e6 / (time.perf_counter() - start)
    return rate, lazy.compute()


def main() -> None:
    import dask
    import torch
    import zarr
    from bench_pipeline import tiled_volume
    from distributed import Client

    from zarr_unicompress.bulk_read import read_array
    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.runtime.device.decode_device import (
        DECODE_DEVICE_ENV,
        set_decode_device,
    )
    from zarr_unicompress.runtime.device.parallel_open import ChunkOpener
    from zarr_unicompress.scheduling import local_cluster
    from zarr_unicompress.zarr3 import UniCompressCodec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--tiles", type=int, nargs=3, default=(2, 2, 4))
    parser.add_argument("--ratio", type=float, default=8.0)
    parser.add_argument("--workers", type=int, nargs="+", default=(8, 15))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/unicompress-lazy-device"))
    args = parser.parse_args()

    volume = np.load(args.data) if args.data else np.asarray(load_em_volume("isbi2012"))
    volume = tiled_volume(np.ascontiguousarray(volume[:30, :512, :512]), tuple(args.tiles))
    shutil.rmtree(args.workdir, ignore_errors=True)
    dest = args.workdir / "archive.zarr"
    array = zarr.create_array(str(dest), shape=volume.shape, chunks=(30, 512, 512), dtype=volume.dtype,
                              serializer=UniCompressCodec(ratio=args.ratio), compressors=None)
    array[:] = volume
    stored = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    print(f"# {volume.shape} {volume.dtype} ({volume.nbytes / 1e6:.0f} MB), ratio {volume.nbytes / stored:.2f}; "
          f"device {args.device}; {os.cpu_count()} CPU cores")
    print("scheduler\tworkers\treconstruction\tMB/s\tsame")
    reference = None
    for workers in args.workers:
        for device in (None, args.device):
            if device:
                os.environ[DECODE_DEVICE_ENV] = device
            else:
                os.environ.pop(DECODE_DEVICE_ENV, None)
            cluster = local_cluster(workers)
            with cluster, Client(cluster):
                rate, decoded = timed_read(dest)
            reference = decoded if reference is None else reference
            print(f"LocalCluster (processes)\t{workers}\t{device or 'numpy'}\t{rate:.0f}\t"
                  f"{np.array_equal(decoded, reference)}", flush=True)
    os.environ.pop(DECODE_DEVICE_ENV, None)
    for device in (None, args.device):
        set_decode_device(device)
        with dask.config.set(scheduler="threads", num_workers=max(args.workers)):
            rate, decoded = timed_read(dest)
        print(f"threads\t{max(args.workers)}\t{device or 'numpy'}\t{rate:.0f}\t{np.array_equal(decoded, reference)}",
              flush=True)
    set_decode_device(None)
    model = zarr.open_array(str(dest)).metadata.codecs[0].inner.runtime
    for device in (None, args.device):
        with ChunkOpener(model, max(args.workers), reconstruct=device is None) as opener:
            read_array(dest, device=device, opener=opener)  # workers started, model loaded
            start = time.perf_counter()
            decoded = read_array(dest, device=device, opener=opener)
            rate = volume.nbytes / 1e6 / (time.perf_counter() - start)
        print(f"read_array\t{max(args.workers)}\t{device or 'numpy'}\t{rate:.0f}\t"
              f"{np.array_equal(decoded, reference)}", flush=True)
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
