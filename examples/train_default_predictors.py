"""Train the shipped default predictor model (the error-bounded coder's codebook of linear
predictors, used when an array has no model of its own) on BOTH real volumes and write it to
zarr_unicompress/assets/default_em_predictors.ucpm.

    UNICOMPRESS_DATA=/work/shared/data PYTHONPATH=$PWD python examples/train_default_predictors.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from zarr_unicompress.fitting.predictors import fit_predictors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "zarr_unicompress" / "assets" / "default_em_predictors.ucpm"


def main() -> None:
    data = os.environ.get("UNICOMPRESS_DATA")
    if not data:
        sys.exit("set UNICOMPRESS_DATA to the folder of isbi2012_train.npy and flyem_fib_train.npy")
    volumes = [np.load(Path(data) / name) for name in ("isbi2012_train.npy", "flyem_fib_train.npy")]
    model = fit_predictors(volumes)
    ASSET.write_bytes(model.to_bytes())
    print(f"wrote {ASSET} ({ASSET.stat().st_size} bytes, sha256 {model.digest[:16]}...)")


if __name__ == "__main__":
    main()
