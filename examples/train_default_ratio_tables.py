"""Fit the shipped default context tables of the ratio mode (used when an array's model has
none of its own) on BOTH real volumes and write them to
zarr_unicompress/assets/default_em_ratio_tables.ucrt.

    UNICOMPRESS_DATA=/work/shared/data PYTHONPATH=$PWD python examples/train_default_ratio_tables.py

FlyEM FIB-SEM in chunks of (32, 256, 256), ISBI 2012 in chunks of (16, 256, 256) (the chunk
shapes of benchmarks/bench_volume_rd.py), 8 random chunks of each.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import itertools  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from zarr_unicompress.default_model import default_student_blob  # noqa: E402
from zarr_unicompress.fitting.ratio_tables import chunk_histograms, fit_tables  # noqa: E402
from zarr_unicompress.runtime.inr.model import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "zarr_unicompress" / "assets" / "default_em_ratio_tables.ucrt"
VOLUMES = {"flyem_fib_train.npy": (32, 256, 256), "isbi2012_train.npy": (16, 256, 256)}


def main() -> None:
    data = os.environ.get("UNICOMPRESS_DATA")
    if not data:
        sys.exit("set UNICOMPRESS_DATA to the folder of isbi2012_train.npy and flyem_fib_train.npy")
    model = load_model(default_student_blob())
    rows = []
    for name, chunks in VOLUMES.items():
        volume = np.load(Path(data) / name, mmap_mode="r")
        origins = list(itertools.product(*(range(0, s, c) for s, c in zip(volume.shape, chunks))))
        np.random.default_rng(0).shuffle(origins)
        for origin in origins[:8]:
            sl = tuple(slice(o, min(o + c, s)) for o, c, s in zip(origin, chunks, volume.shape))
            rows.append(chunk_histograms(np.ascontiguousarray(volume[sl]), model))
    tables = fit_tables(np.concatenate(rows))
    ASSET.write_bytes(tables.to_bytes())
    print(f"wrote {ASSET} ({ASSET.stat().st_size} bytes, {tables.n_tables} tables, sha256 {tables.digest[:16]}...)")


if __name__ == "__main__":
    main()
