"""Encode against decode throughput on all of a machine's cores, with the codeword search in NumPy
or on a torch device (GPU).

    python benchmarks/bench_encode_device.py [--data PATH.npy] [--chunk 30 512 512]
        [--ratios 4 8 32] [--max-errors 2] [--threads 1 15] [--chunks 32] [--device cuda]
        [--out-dir benchmarks/plots] [--tsv PATH]

Issue #6 asks that encoding after fitting be at least as fast as decoding. The ISBI block (real
EM data; ``--chunk``, default (30, 512, 512)) is encoded ``--chunks`` times per configuration
by a ThreadPoolExecutor of T threads (``--threads``; default 1 and all cores but one; one BLAS
thread per call, as in the archive pipeline) with the encoder's codeword search in NumPy
("numpy") or on ``--device``; the stream is then decoded
(:func:`decode_chunk`, NumPy) ``--chunks`` times on the same threads. MB/s = 10**6 voxel bytes
(uint8) per second of wall time, one round after a warm-up round. ``same stream``: whether the
device's search gave the NumPy search's stream byte for byte (float rounding may pick another
codeword for a near-tie; either stream decodes the same way everywhere).

Prints a table, writes ``encode_device.png`` and a TSV (``--tsv``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def rate_mb_s(pool: ThreadPoolExecutor, threads: int, job: Callable[[], object], count: int, mb: float) -> float:
    """MB/s of ``count`` runs of ``job`` on ``pool`` of ``threads`` (``mb`` MB each), after a
    warm-up round of one run per thread."""
    list(pool.map(lambda _: job(), range(threads)))
    start = time.perf_counter()
    list(pool.map(lambda _: job(), range(count)))
    return count * mb / (time.perf_counter() - start)


def main() -> None:
    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.default_model import default_student_blob
    from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
    from zarr_unicompress.runtime.inr.codeword_search import set_search_device
    from zarr_unicompress.runtime.inr.model import load_model
    from zarr_unicompress.scheduling import one_blas_thread

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="EM volume .npy (default: the ISBI 2012 volume)")
    parser.add_argument("--chunk", type=int, nargs=3, default=(30, 512, 512))
    parser.add_argument("--ratios", type=float, nargs="*", default=(4, 8, 32))
    parser.add_argument("--max-errors", type=int, nargs="*", default=(2,))
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="encoding / decoding threads (default: 1 and all cores but one)")
    parser.add_argument("--chunks", type=int, default=32, help="chunks encoded (and decoded) per measurement")
    parser.add_argument("--device", default=None, help="torch device of the search (default: cuda when torch sees one)")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "plots")
    parser.add_argument("--tsv", type=Path, default=None)
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    threads = args.threads or sorted({1, max(1, cores - 1)})
    device = args.device
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else None
    searches: list[str | None] = [None] + ([device] if device else [])
    volume = np.load(args.data) if args.data else np.asarray(load_em_volume("isbi2012"))
    block = np.ascontiguousarray(volume[tuple(slice(0, n) for n in args.chunk)])
    model = load_model(default_student_blob())
    mb = block.nbytes / 1e6
    print(f"# block {block.shape} {block.dtype} ({mb:.2f} MB); search on numpy and {device or '(no device)'}; "
          f"{cores} CPU cores ({platform.processor() or platform.machine()}); {args.chunks} chunks per figure")

    qualities = ([(f"ratio={r:g}", QualitySettings(ratio=r)) for r in args.ratios]
                 + [(f"max_error={e}", QualitySettings(max_error=e)) for e in args.max_errors])
    header = ["quality", "threads"] + [f"encode {s or 'numpy'}" for s in searches] + ["decode numpy",
                                                                                      "encode/decode", "same stream"]
    rows = []
    print("\t".join(header), flush=True)
    with one_blas_thread():  # as the archive pipeline's threads run (a BLAS pool per call oversubscribes)
        for label, quality in qualities:
            for t in threads:
                with ThreadPoolExecutor(t) as pool:
                    encodes, streams = [], []
                    for search in searches:
                        set_search_device(search)
                        streams.append(encode_chunk(model, block, quality))
                        encodes.append(rate_mb_s(pool, t, lambda q=quality: encode_chunk(model, block, q), args.chunks, mb))
                    set_search_device(None)
                    decode = rate_mb_s(pool, t, lambda s=streams[0]: decode_chunk(model, s), args.chunks, mb)
                best = max(encodes)
                row = [label, str(t), *(f"{e:.1f}" for e in encodes), f"{decode:.1f}", f"{best / decode:.2f}",
                       str(all(s == streams[0] for s in streams))]
                rows.append(row)
                print("\t".join(row), flush=True)
    if args.tsv:
        args.tsv.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    _plot(args.out_dir / "encode_device.png", header, rows, len(searches),
          f"{block.shape} {block.dtype}, search on {device or 'numpy'}")


def _plot(path: Path, header: list[str], rows: list[list[str]], n_searches: int, what: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from plotting import save_figure

    labels = [f"{r[0]}\nT={r[1]}" for r in rows]
    columns = list(range(2, 2 + n_searches + 1))
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 4.5))
    for i, col in enumerate(columns):
        ax.bar(np.arange(len(rows)) + i * width, [float(r[col]) for r in rows], width, label=header[col])
    ax.set_xticks(np.arange(len(rows)) + width * (len(columns) - 1) / 2, labels, fontsize=7)
    ax.set_ylabel("MB/s of voxels")
    ax.set_title(f"UniCompress encode vs decode, {what}", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
