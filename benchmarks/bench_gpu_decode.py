"""Decode throughput with the reconstruction on a torch device (GPU), next to NumPy on one core.

    python benchmarks/bench_gpu_decode.py [--data PATH.npy] [--chunk 30 512 512]
        [--ratios 4 8 16 32 64] [--chunks 96] [--batch 8] [--processes 1 8 15] [--threads 15]
        [--device cuda] [--out-dir benchmarks/plots]

The ISBI block (real EM data; ``--chunk``, default (30, 512, 512)) is encoded once per ratio with the default
model; its stream is then decoded ``--chunks`` times. Columns (MB/s = 10**6 decoded bytes
per second, uint8 voxels):

* ``numpy 1 core``: :func:`decode_chunk` in this process (median of 3), the CPU reference.
* ``entropy 1 core``: :func:`open_chunk` alone (ANS decode and checks, median of 3): the
  stage that stays on the CPU.
* ``device stage``: :func:`reconstruct_batch` of ``--batch`` entropy-decoded chunks on the
  device, synchronised (median of 5); ``+copy``: :func:`decode_chunks` of the same chunks,
  i.e. also the one copy of the batch's voxels to host memory and the arrays in their dtype.
* ``end to end P``: ``--chunks`` streams through a :class:`ChunkOpener` of P processes
  (entropy decoding) and :func:`decode_chunks` on the device in batches of ``--batch``, up
  to host arrays; wall time from the first stream submitted to the last array on the host.
* ``end to end T threads``: the same with a ChunkOpener of T threads (v0.4.0's rANS decoder
  releases the GIL, and a thread's results need no pickling).
* ``numpy P``: the same streams decoded wholly in NumPy by a pool of P processes (the largest
  ``--processes``; no device), up to host arrays: what the machine's CPUs give alone.
* ``diff``: voxels whose device decode differs from NumPy's, and the largest difference.

Prints a table, writes ``gpu_decode.png`` and a TSV (``--tsv``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def median_seconds(fn: Callable[[], object], repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import torch

    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.default_model import default_student_blob
    from zarr_unicompress.runtime.chunk_codec import (
        QualitySettings,
        decode_chunk,
        encode_chunk,
        open_chunk,
    )
    from zarr_unicompress.runtime.inr.model import load_model
    from zarr_unicompress.runtime.device.parallel_open import ChunkOpener
    from zarr_unicompress.runtime.device.torch_decode import decode_chunks, reconstruct_batch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="EM volume .npy (default: the ISBI 2012 volume)")
    parser.add_argument("--chunk", type=int, nargs=3, default=(30, 512, 512))
    parser.add_argument("--ratios", type=float, nargs="+", default=(4, 8, 16, 32, 64))
    parser.add_argument("--chunks", type=int, default=96, help="chunks decoded per end-to-end run")
    parser.add_argument("--batch", type=int, default=8, help="chunks per device reconstruction")
    parser.add_argument("--processes", type=int, nargs="+", default=None,
                        help="entropy-decoding processes of the end-to-end runs (default: 1, half, all but one core)")
    parser.add_argument("--threads", type=int, nargs="*", default=None,
                        help="entropy-decoding threads of further end-to-end runs (default: all but one core)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "plots")
    parser.add_argument("--tsv", type=Path, default=None)
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    processes = args.processes or sorted({1, max(1, cores // 2), max(1, cores - 1)})
    volume = np.load(args.data) if args.data else np.asarray(load_em_volume("isbi2012"))
    block = np.ascontiguousarray(volume[tuple(slice(0, n) for n in args.chunk)])
    model = load_model(default_student_blob())
    mb = block.nbytes / 1e6
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "none"
    print(f"# block {block.shape} {block.dtype} ({mb:.2f} MB); device {args.device} ({gpu}); "
          f"{cores} CPU cores ({platform.processor() or platform.machine()}); torch {torch.__version__}; "
          f"batch {args.batch}; {args.chunks} chunks per end-to-end run")

    cpu_pool_size = max(processes)
    cpu_pool = ChunkOpener(model, cpu_pool_size, reconstruct=True)  # the whole NumPy decode in its workers
    threads = args.threads if args.threads is not None else [max(1, cores - 1)]
    openers = {**{(p, False): ChunkOpener(model, p) for p in processes},
               **{(t, True): ChunkOpener(model, t, threads=True) for t in threads}}
    for opener in [*openers.values(), cpu_pool]:  # start the workers and load the model in each
        list(opener.open([encode_chunk(model, block[:2, :64, :64], QualitySettings(ratio=8))] * opener.processes))
    header = (["ratio", "numpy 1 core", "entropy 1 core", "device stage", "device+copy"]
              + [f"end to end P={p}" for p in processes] + [f"end to end T={t} threads" for t in threads]
              + [f"numpy P={cpu_pool_size}", "diff voxels", "max diff"])
    rows = []
    print("\t".join(header), flush=True)
    for ratio in args.ratios:
        stream = encode_chunk(model, block, QualitySettings(ratio=ratio))
        reference = decode_chunk(model, stream)
        numpy_s = median_seconds(lambda s=stream: decode_chunk(model, s), 3)
        entropy_s = median_seconds(lambda s=stream: open_chunk(model, s), 3)
        coded = [open_chunk(model, stream) for _ in range(args.batch)]
        stage_s = median_seconds(lambda c=coded: reconstruct_batch(model, c, args.device), 5, sync)
        copy_s = median_seconds(lambda c=coded: decode_chunks(model, None, args.device, opened=c), 5, sync)
        decoded = decode_chunks(model, [stream], args.device)[0]
        diff = np.abs(decoded.astype(np.int32) - reference.astype(np.int32))
        row = [f"{ratio:g}", f"{mb / numpy_s:.1f}", f"{mb / entropy_s:.1f}", f"{args.batch * mb / stage_s:.0f}",
               f"{args.batch * mb / copy_s:.0f}"]
        for key in openers:
            start = time.perf_counter()
            opened = openers[key].open([stream] * args.chunks)
            done = 0
            while done < args.chunks:
                group = [next(opened) for _ in range(min(args.batch, args.chunks - done))]
                decode_chunks(model, None, args.device, opened=group)
                done += len(group)
            row.append(f"{args.chunks * mb / (time.perf_counter() - start):.0f}")
        start = time.perf_counter()
        list(cpu_pool.open([stream] * args.chunks))
        row.append(f"{args.chunks * mb / (time.perf_counter() - start):.0f}")
        row += [str(int((diff > 0).sum())), str(int(diff.max()))]
        rows.append(row)
        print("\t".join(row), flush=True)
    for opener in openers.values():
        opener.close()
    cpu_pool.close()
    if args.tsv:
        args.tsv.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    _plot(args.out_dir / "gpu_decode.png", header, rows, f"{block.shape} {block.dtype}, {args.device} ({gpu})")


def _plot(path: Path, header: list[str], rows: list[list[str]], what: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from plotting import save_figure

    ratios = [float(r[0]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for col in range(1, len(header) - 2):
        ax.plot(ratios, [float(r[col]) for r in rows], marker="o", label=header[col])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("compression ratio")
    ax.set_ylabel("decoded MB/s")
    ax.set_title(f"UniCompress decode, {what}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
