"""Train the default EM model shipped in ``zarr_unicompress/assets``.

Usage::

    python examples/train_default_model.py [--data ../shared/data/isbi2012_train.npy]

Fits a teacher and distils a student on the ISBI 2012 training volume (30 x 512 x 512
uint8, Drosophila VNC serial-section TEM) with (16, 256, 256) training chunks, then writes
the two blobs into the package assets.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from zarr_unicompress.data import load_em_volume
from zarr_unicompress.default_model import STUDENT_ASSET, TEACHER_ASSET
from zarr_unicompress.training import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="path of a .npy EM volume (default: ISBI 2012)")
    parser.add_argument("--teacher-steps", type=int, default=2000)
    parser.add_argument("--student-steps", type=int, default=2000)
    parser.add_argument("--batch-tokens", type=int, default=256)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "zarr_unicompress" / "assets"))
    args = parser.parse_args()
    volume = np.load(args.data) if args.data else load_em_volume("isbi2012")
    start = time.perf_counter()
    model = fit(volume, chunks=(16, 256, 256), teacher_steps=args.teacher_steps,
                student_steps=args.student_steps, batch_tokens=args.batch_tokens)
    elapsed = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / STUDENT_ASSET).write_bytes(model.blob)
    (out / TEACHER_ASSET).write_bytes(model.teacher_blob)
    t_mse, s_mse = model.history["teacher_mse"][-50:], model.history["student_mse"][-50:]
    print(f"fit {elapsed:.0f} s; teacher train PSNR {-10 * np.log10(np.mean(t_mse)):.2f} dB, "
          f"student train PSNR {-10 * np.log10(np.mean(s_mse)):.2f} dB; student sha256 {model.digest}")


if __name__ == "__main__":
    main()
