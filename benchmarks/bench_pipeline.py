"""Archive-pipeline throughput: ``compress`` on local threads (1 and 2) and a LocalCluster (2 processes).

Usage::

    python benchmarks/bench_pipeline.py [--data PATH.npy] [--tiles 2 2 2] [--workdir /tmp/uc-bench]
        [--workers 1 2] [--no-batch-table]

The source is the real EM volume tiled ``--tiles`` times along (z, y, x), mirrored at every
other tile so that no two neighbouring tiles are identical (ISBI 2012 has only 30 x 512 x 512
voxels). Each run writes a Zarr v3 array with (16, 256, 256) chunks in (32, 512, 512) shards,
with the default model (no fitting), and the table reports raw MB/s including the read-back
verification of every region. A second table varies the batch (chunks per task) of an unsharded
Zarr v2 array (``--no-batch-table`` leaves it out). A third reads each archive back lazily,
``da.from_zarr(DEST).sum().compute()``, on each ``--workers`` count of threads and on a LocalCluster
of the largest count of processes (second of two reads, so worker start-up and
model loading are not counted; the archive rows follow one warm-up job on a (32, 512, 512)
piece, so that the first row does not count the process's imports either). The codeword
search runs on a GPU where torch sees one, else in NumPy (``compress``'s default).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np
import zarr


def tiled_volume(volume: np.ndarray, tiles: tuple[int, int, int]) -> np.ndarray:
    """``volume`` repeated ``tiles`` times per axis, every other tile mirrored along that axis."""
    out = volume
    for axis, n in enumerate(tiles):
        parts = [out if i % 2 == 0 else np.flip(out, axis) for i in range(n)]
        out = np.concatenate(parts, axis=axis)
    return np.ascontiguousarray(out)


def lazy_read_rates(dest: Path, thread_counts: list[int]) -> list[tuple[str, int, float]]:
    """(scheduler, workers, MB/s of decoded voxels) of ``da.from_zarr(dest).sum().compute()``."""
    import dask
    import dask.array as da
    from distributed import Client

    from zarr_unicompress.scheduling import local_cluster

    lazy = da.from_zarr(str(dest))
    rates = []

    def timed_read() -> float:
        start = time.perf_counter()
        lazy.sum().compute()
        return lazy.nbytes / 1e6 / (time.perf_counter() - start)

    for workers in thread_counts:
        with dask.config.set(scheduler="threads", num_workers=workers):
            timed_read()
            rates.append(("threads", workers, timed_read()))
    processes = max(thread_counts)
    with local_cluster(processes) as cluster, Client(cluster):
        timed_read()
        rates.append(("LocalCluster (processes)", processes, timed_read()))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--tiles", type=int, nargs=3, default=(2, 2, 2))
    parser.add_argument("--workdir", default="/tmp/unicompress-bench-pipeline")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="thread counts; the LocalCluster rows use the largest as processes")
    parser.add_argument("--no-batch-table", action="store_true", help="leave out the Zarr v2 batch-size table")
    args = parser.parse_args()
    processes = max(args.workers)

    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.pipeline import compress
    from zarr_unicompress.runtime.inr.codeword_search import default_search_device

    volume = np.load(args.data) if args.data else load_em_volume("isbi2012")
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = work / "source.npy"
    np.save(source, tiled_volume(np.asarray(volume), tuple(args.tiles)))
    shape = np.load(source, mmap_mode="r").shape
    # warm-up: the first job of a process also imports zarr, dask and numba and loads the
    # compiled loops from numba's cache (about 1.4 s here), which the first row would count
    warm = work / "warm.npy"
    np.save(warm, np.load(source, mmap_mode="r")[:32, :512, :512])
    compress(warm, work / "warm.zarr", chunks=(16, 256, 256), shards=(32, 512, 512), progress=False, ratio=10.0)
    rows = []
    read_rows = []
    for quality in ({"ratio": 10.0}, {"max_error": 2}):
        for label, scheduler, workers in ([("threads", None, w) for w in args.workers]
                                          + [("LocalCluster (processes)", "local-cluster", processes)]):
            dest = work / "out.zarr"
            shutil.rmtree(dest, ignore_errors=True)
            start = time.perf_counter()
            summary = compress(source, dest, chunks=(16, 256, 256), shards=(32, 512, 512), scheduler=scheduler,
                               workers=workers, progress=False, **quality)
            seconds = time.perf_counter() - start
            rows.append((", ".join(f"{k}={v}" for k, v in quality.items()), label, workers,
                         summary.raw_bytes / 1e6 / seconds, summary.ratio, summary.psnr))
            print(f"# archive {rows[-1][:3]}: {rows[-1][3]:.1f} MB/s", flush=True)  # in case the run is cut
        read_rows += [(rows[-1][0], *rate) for rate in lazy_read_rates(dest, args.workers)]
        print(f"# lazy reads {read_rows[-len(args.workers) - 1:]}", flush=True)
    batch_rows = []
    for group in () if args.no_batch_table else (1, 2, None):  # chunks per task without shards; None: from memory and workers
        dest = work / "out_v2.zarr"
        shutil.rmtree(dest, ignore_errors=True)
        start = time.perf_counter()
        summary = compress(source, dest, chunks=(16, 256, 256), zarr_format=2, group_chunks=group, workers=2,
                           progress=False, max_error=2)
        seconds = time.perf_counter() - start
        region = zarr.open_array(str(dest), mode="r").attrs["unicompress_region"]
        batch_rows.append((group, region[0] // 16, summary.regions_written, summary.raw_bytes / 1e6 / seconds))
    print(f"source: ISBI 2012 tiled {tuple(args.tiles)} -> {shape} uint8 ({np.prod(shape) / 1e6:.0f} MB); "
          f"{os.cpu_count()} cores; codeword search on {default_search_device(None) or 'numpy'}; "
          f"chunks (16, 256, 256), shards (32, 512, 512); {time.strftime('%Y-%m-%d')}")
    print("\n| quality | scheduler | workers | MB/s (encode + verify) | ratio (with metadata) | PSNR (dB) |")
    print("|---|---|---:|---:|---:|---:|")
    for q, label, workers, mbs, ratio, psnr in rows:
        print(f"| {q} | {label} | {workers} | {mbs:.1f} | {ratio:.2f} | {psnr:.2f} |")
    if batch_rows:
        print("\nBatch size: Zarr v2 without shards, max_error=2, 2 threads, chunks per task along z\n")
        print("| --group-chunks | chunks per task | tasks | MB/s (encode + verify) |")
        print("|---|---:|---:|---:|")
        for group, per_task, tasks, mbs in batch_rows:
            print(f"| {'auto' if group is None else group} | {per_task} | {tasks} | {mbs:.1f} |")

    print("\nLazy reads: da.from_zarr(DEST).sum().compute() of the sharded archives above\n")
    print("| quality | scheduler | workers | MB/s (decoded) |")
    print("|---|---|---:|---:|")
    for q, label, workers, mbs in read_rows:
        print(f"| {q} | {label} | {workers} | {mbs:.1f} |")


if __name__ == "__main__":
    main()
