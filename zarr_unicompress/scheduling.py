"""Run region tasks with Dask (threads, a LocalCluster or a distributed scheduler) and show progress.

The progress bar (tqdm) counts regions and shows raw MB/s and the ETA.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Callable, Sequence


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

    with _Progress():
        return list(dask.compute(*tasks, scheduler="threads", num_workers=workers))


def _run_distributed(fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], sizes: Sequence[int],
                     scheduler: str, workers: int | None, bar: Any) -> list[Any]:
    from distributed import Client, LocalCluster, as_completed

    with ExitStack() as stack:
        if scheduler == "local-cluster":
            cluster = stack.enter_context(LocalCluster(n_workers=workers or 2, threads_per_worker=1,
                                                       processes=True, dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler))
        futures = [client.submit(fn, *a, pure=False) for a in args]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        for n, future in enumerate(as_completed(futures), 1):
            i = index[future.key]
            results[i] = future.result()
            bar.update(sizes[i] / 1e6)
            bar.set_postfix_str(f"{n}/{len(futures)} regions")
        return results
