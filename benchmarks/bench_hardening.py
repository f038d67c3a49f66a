"""What refusing a crafted input costs: peak traced memory (tracemalloc) and time per attack
of issue 23 (chunks and configs built here, as an attacker would).

    python benchmarks/bench_hardening.py

Prints a table and writes benchmarks/plots/hardening.png (peak memory per attack). The rule
checked: a crafted input costs at most a small multiple of its own size before it is refused.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any, Callable

import numcodecs
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from numcodecs_ext import UniCompress  # noqa: E402
from tests.crafted import config_of, edited_blob, indices_chunk, restamp  # noqa: E402
from zarr_unicompress.errors import UniCompressError  # noqa: E402


def attacks() -> dict[str, tuple[int, Callable[[], Any]]]:
    """name -> (input bytes, the call that must refuse it)."""
    warnings.simplefilter("ignore")
    codec = UniCompress()
    const = restamp(codec.encode(np.full((2, 2, 2), 7, np.uint8)), sz=2048, sy=1024, sx=1024)
    indices = restamp(indices_chunk(codec.model_sha256, np.zeros(4, np.int64), (4, 16, 16)),
                      sz=1024, sy=1024, sx=2048, dtype=3)
    grid = (np.arange(4 * 32 * 32) % 200).astype(np.uint8).reshape(4, 32, 32)
    bounded = restamp(UniCompress(max_error=2).encode(grid), sz=2048, sy=1024, sx=1024)
    ratio = restamp(UniCompress(ratio=6).encode(grid), sz=2048, sy=1024, sx=1024)
    out: dict[str, tuple[int, Callable[[], Any]]] = {
        "constant chunk, 2 GiB declared": (len(const), lambda: codec.decode(const)),
        "indices-only chunk, 4 GiB declared": (len(indices), lambda: codec.decode(indices)),
        "max_error chunk, 2 GiB declared": (len(bounded), lambda: codec.decode(bounded)),
        "ratio chunk, 2 GiB declared": (len(ratio), lambda: codec.decode(ratio)),
    }
    for name, arch in (("codebook_size=2**24", {"codebook_size": 2**24}),
                       ("token_shape=[64,64,64]", {"token_shape": [64, 64, 64]}),
                       ("token_shape=[16,32,32]", {"token_shape": [16, 32, 32]}),
                       ("siren_layers=[3]", {"siren_layers": [3]})):
        config = config_of(edited_blob(arch))
        out[f"config {name}"] = (len(config["model"]), lambda c=config: numcodecs.get_codec(c))
    return out


def main() -> None:
    rows = []
    for name, (size, call) in attacks().items():
        tracemalloc.start()
        start = time.perf_counter()
        try:
            call()
            outcome = "ACCEPTED"
        except UniCompressError as exc:
            outcome = type(exc).__name__
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append((name, size, outcome, peak, seconds))
    print("| crafted input | input bytes | outcome | peak traced bytes | peak / input | ms |")
    print("|---|---:|---|---:|---:|---:|")
    for name, size, outcome, peak, seconds in rows:
        print(f"| {name} | {size} | {outcome} | {peak} | {peak / size:.1f} | {seconds * 1e3:.1f} |")
    plot(rows, Path(__file__).parent / "plots" / "hardening.png")


def plot(rows: list[tuple], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh([r[0] for r in rows], [r[3] / r[1] for r in rows])
    ax.set_xlabel("peak traced memory / input bytes")
    ax.set_title("cost of refusing a crafted input")
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
