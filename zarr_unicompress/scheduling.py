"""Run region tasks with Dask (threads, a LocalCluster or a distributed scheduler) and show progress.

The progress bar (tqdm) counts regions and shows raw MB/s and the ETA.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Callable, Sequence

from .errors import UniCompressError


#: bytes a region task holds per raw byte of its region: the source block, the read-back copy
#: and the int64 error map (8 bytes per voxel), plus the encoder's working set for the chunks
#: zarr encodes at once.
_TASK_BYTES_PER_RAW_BYTE = 12
#: at most this many chunks per task: more only lengthens the tail of the job.
_MAX_GROUP_CHUNKS = 16
#: GPU bytes a chunk's codeword search holds per raw byte (uint8): the float32 tokens and the
#: float32 distances to the codewords of one batch.
_DEVICE_BYTES_PER_RAW_BYTE = 8


def available_memory_bytes() -> int:
    """Memory the OS reports as available now (Linux ``MemAvailable``); 4 GiB where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def device_memory_bytes(device: str | None) -> int | None:
    """Free memory (bytes) of a CUDA ``device`` as torch reports it; None for no or another device."""
    if device is None or not device.startswith("cuda"):
        return None
    import torch

    return int(torch.cuda.mem_get_info(torch.device(device))[0])


def auto_group_chunks(chunk_bytes: int, chunks_along_z: int, workers: int, available: int | None = None,
                      device_available: int | None = None) -> int:
    """Chunks per region task (along z) for an unsharded array.

    As many as fit, at ``_TASK_BYTES_PER_RAW_BYTE`` bytes per raw byte, in half of the
    ``available`` host memory (bytes; default: what the OS reports) shared by ``workers``
    concurrent tasks and, where the codeword search runs on a GPU, at
    ``_DEVICE_BYTES_PER_RAW_BYTE`` in half of its ``device_available`` memory; but at most
    ``_MAX_GROUP_CHUNKS`` and few enough that every worker gets at least two tasks.
    """
    available = available_memory_bytes() if available is None else available
    per_task = available // 2 // max(1, workers)
    by_memory = per_task // max(1, chunk_bytes * _TASK_BYTES_PER_RAW_BYTE)
    if device_available is not None:
        per_task_device = device_available // 2 // max(1, workers)
        by_memory = min(by_memory, per_task_device // max(1, chunk_bytes * _DEVICE_BYTES_PER_RAW_BYTE))
    by_balance = max(1, chunks_along_z // (2 * max(1, workers)))
    return int(max(1, min(by_memory, _MAX_GROUP_CHUNKS, by_balance)))


def run_tasks(fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], sizes: Sequence[int], *,
              scheduler: str | None = None, workers: int | None = None, progress: bool = True) -> list[Any]:
    """Call ``fn(*a)`` for every ``a`` in ``args`` as Dask tasks and return the results in order.

    Args:
        sizes: raw bytes each task handles (for the MB/s of the progress bar).
        scheduler: None/"threads" (dask threaded scheduler with ``workers`` threads),
            "local-cluster" (``distributed.LocalCluster`` with ``workers`` processes) or the
            address of a running ``distributed`` scheduler.
    """
    if not args:
        return []
    from tqdm.auto import tqdm

    bar = tqdm(total=sum(sizes) / 1e6, unit="MB", unit_scale=False, desc="regions", disable=not progress,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} MB [{elapsed}<{remaining}, {rate_fmt}] {postfix}")
    try:
        if scheduler in (None, "threads"):
            return _run_threads(fn, args, sizes, workers, bar)
        return _run_distributed(fn, args, sizes, scheduler, workers, bar)
    finally:
        bar.close()


def _run_threads(fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], sizes: Sequence[int],
                 workers: int | None, bar: Any) -> list[Any]:
    import dask
    from dask.callbacks import Callback

    tasks = [dask.delayed(fn, pure=False)(*a, dask_key_name=f"region-{i}") for i, a in enumerate(args)]
    size_of = {f"region-{i}": s for i, s in enumerate(sizes)}
    done = [0]

    class _Progress(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, id: Any) -> None:
            if key in size_of:
                done[0] += 1
                bar.update(size_of[key] / 1e6)
                bar.set_postfix_str(f"{done[0]}/{len(size_of)} regions")

    with _Progress(), one_blas_thread():
        return list(dask.compute(*tasks, scheduler="threads", num_workers=workers))


def one_blas_thread() -> Any:
    """A context in which BLAS libraries (OpenBLAS, MKL, BLIS) loaded in this process run one
    thread per call, as ``distributed``'s workers do (``OPENBLAS_NUM_THREADS=1`` and friends).

    The encoder's codeword search is a matrix product per chunk; with zarr's and Dask's threads
    each encoding a chunk, a BLAS pool of all cores per call oversubscribes the CPU. On a 16-core
    host, 15 threads encoding (30, 512, 512) blocks ran at 236 MB/s (ratio 8) and 103 MB/s
    (max_error=2) with OpenBLAS's default pool and at 489 and 580 MB/s with one BLAS thread
    (``bench_encode_device.py``, RESULTS.md v0.4.2). The limits are restored on exit."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


#: environment of :func:`local_cluster`'s worker processes: zarr's thread pool of one thread, so
#: that each process encodes one chunk at a time. The processes are the parallelism; with zarr's
#: default pool (cores + 4 threads per process) each process would encode a shard's chunks in
#: threads at once, which queue for that process's GIL.
LOCAL_CLUSTER_WORKER_ENV = {"ZARR_THREADING__MAX_WORKERS": "1"}
#: variables of ``distributed.nanny.pre-spawn-environ`` that :func:`local_cluster` leaves out.
#: distributed starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off glibc's
#: adaptive mmap threshold: every buffer of 128 KiB or more is then a fresh mmap whose pages
#: fault on first touch, and a (32, 512, 512) region took 387-424 ms instead of 167-173 ms to
#: encode, write and verify in one thread (RESULTS.md, v0.4.3).
LOCAL_CLUSTER_DROPPED_PRE_SPAWN = ("MALLOC_TRIM_THRESHOLD_",)


def local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` one-thread processes for codec work:
    distributed's pre-spawn environment without :data:`LOCAL_CLUSTER_DROPPED_PRE_SPAWN` (it
    keeps one BLAS/OpenMP thread per process), plus :data:`LOCAL_CLUSTER_WORKER_ENV`."""
    import dask
    from distributed import LocalCluster

    environ = {key: value for key, value in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if key not in LOCAL_CLUSTER_DROPPED_PRE_SPAWN}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            env=dict(LOCAL_CLUSTER_WORKER_ENV))


def _run_distributed(fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], sizes: Sequence[int],
                     scheduler: str, workers: int | None, bar: Any) -> list[Any]:
    from distributed import Client, as_completed

    with ExitStack() as stack:
        if scheduler == "local-cluster":
            cluster = stack.enter_context(local_cluster(workers or 2))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(_connect(Client, scheduler))
        futures = [client.submit(fn, *a, pure=False) for a in args]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        for n, future in enumerate(as_completed(futures), 1):
            i = index[future.key]
            results[i] = future.result()
            bar.update(sizes[i] / 1e6)
            bar.set_postfix_str(f"{n}/{len(futures)} regions")
        return results


#: seconds to wait for a scheduler named by address before giving up.
SCHEDULER_TIMEOUT_S = 10


class SchedulerUnavailable(UniCompressError):
    """The dask scheduler named by the user cannot be reached."""


def _connect(client_class: Any, address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; raises :class:`SchedulerUnavailable`
    (one line) where it cannot be reached within :data:`SCHEDULER_TIMEOUT_S` seconds."""
    try:
        return client_class(address, timeout=f"{SCHEDULER_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchedulerUnavailable(f"cannot reach the dask scheduler at {address!r} within "
                                   f"{SCHEDULER_TIMEOUT_S} s ({reason[:200]}); start it (`dask scheduler`) "
                                   "and rerun, or leave --scheduler out to run locally") from None


def check_scheduler(address: str) -> None:
    """Connect to the scheduler at ``address`` once and close: a job checks it before it starts
    its destination (raises :class:`SchedulerUnavailable`)."""
    from distributed import Client

    _connect(Client, address).close()
