"""Wall time of fit() on ISBI 2012 by torch thread count (the default: the cores this process may use).

Usage::

    python benchmarks/bench_fit_time.py [--steps N] [--threads 1 auto ...]

``--steps N`` runs N teacher and N student steps (default: FitSettings' 2000 + 2000, the recipe
of the shipped model). Prints a table (threads, steps, seconds, last teacher and student MSE) and
writes benchmarks/plots/fit_time.png. Times depend on the machine's load: say what else ran.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="teacher and student steps (default: FitSettings)")
    parser.add_argument("--threads", nargs="+", default=["auto"], help="thread counts; 'auto' = fit's default")
    args = parser.parse_args()

    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.training import FitSettings, fit, fit_threads

    volume = np.asarray(load_em_volume("isbi2012"))
    steps = args.steps or FitSettings().teacher_steps
    rows = []
    for threads in args.threads:
        n = None if threads == "auto" else int(threads)
        start = time.perf_counter()
        fitted = fit(volume, chunks=(16, 256, 256), teacher_steps=steps, student_steps=steps, threads=n,
                     progress=False)
        seconds = time.perf_counter() - start
        used = n or fit_threads()
        rows.append((f"{threads} ({used})", steps, seconds, fitted.history["teacher_mse"][-1],
                     fitted.history["student_mse"][-1]))
    print(f"# fit on ISBI 2012 (30, 512, 512) uint8, chunks (16, 256, 256) as examples/train_default_model.py; "
          f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print("| threads (used) | teacher + student steps | seconds | last teacher MSE | last student MSE |")
    print("|---|---:|---:|---:|---:|")
    for label, n_steps, seconds, t_mse, s_mse in rows:
        print(f"| {label} | {n_steps} + {n_steps} | {seconds:.1f} | {t_mse:.5f} | {s_mse:.5f} |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from plotting import save_figure

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar([r[0] for r in rows], [r[2] for r in rows])
    ax.set_xlabel("torch threads (used)")
    ax.set_ylabel(f"fit seconds ({steps} + {steps} steps)")
    save_figure(fig, Path(__file__).parent / "plots" / "fit_time.png")


if __name__ == "__main__":
    main()
