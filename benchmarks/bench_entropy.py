"""The entropy stage alone: the codec's rANS coder against constriction's ANS on the symbol
groups a ratio-mode chunk really codes.

Usage::

    python benchmarks/bench_entropy.py [--data PATH.npy] [--ratios 4 8 16 32 64] [--repeats 7]

For each ratio it encodes the (30, 512, 512) ISBI block as the codec does (flat base, the
step the rate control picks), then times ``entropy.encode_groups`` (frequency tables, table
section and words) and a ``GroupDecoder`` over all groups, with each coder, one thread,
median of ``--repeats``. Prints a table (ms, decoded symbols per second, word-section bytes)
and writes benchmarks/plots/entropy.png (decode Msym/s per ratio).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from zarr_unicompress.data import load_em_volume
from zarr_unicompress.default_model import default_student_blob
from zarr_unicompress.runtime import chunk_codec
from zarr_unicompress.runtime.entropy.groups import GroupDecoder, encode_groups
from zarr_unicompress.runtime.inr.model import load_model
from zarr_unicompress.runtime.quantize.band_units import BandUnits
from zarr_unicompress.runtime.transform.wavelet_residual import levels_for


def time_coder(groups: list[np.ndarray], allow_rans: bool, repeats: int) -> tuple[float, float, int, bool]:
    """(encode s, decode s, word-section bytes, whether rANS coded them) for ``groups``."""
    encode_s, decode_s = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        coded = encode_groups(groups, allow_rans)
        middle = time.perf_counter()
        decoder = GroupDecoder(*coded)
        for group in groups:
            decoder.next(group.size, dtype=group.dtype)
        decoder.finish()
        encode_s.append(middle - start)
        decode_s.append(time.perf_counter() - middle)
    return float(np.median(encode_s)), float(np.median(decode_s)), len(coded.words), coded.uses_rans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="an EM volume as .npy (default: the ISBI 2012 loader)")
    parser.add_argument("--ratios", type=float, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    volume = np.load(args.data, mmap_mode="r") if args.data else load_em_volume("isbi2012")
    block = np.ascontiguousarray(volume[:30, :512, :512])
    model = load_model(default_student_blob())
    lo, hi = int(block.min()), int(block.max())
    units, _ = BandUnits.about_mean(block, levels_for(block.shape), True, lo, hi)
    rows = []
    print(f"block {block.shape} {block.dtype}; one thread, median of {args.repeats}\n")
    print("| ratio | symbols | coder | encode ms | decode ms | decode Msym/s | word bytes |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for ratio in args.ratios:
        stream = chunk_codec.encode_chunk(model, block, chunk_codec.QualitySettings(ratio=ratio))
        step = float(chunk_codec.open_chunk(model, stream).params.step)
        groups = units.groups(step)
        n_symbols = sum(group.size for group in groups)
        for allow_rans in (False, True):
            encode_s, decode_s, n_bytes, uses_rans = time_coder(groups, allow_rans, args.repeats)
            coder = "rANS" if uses_rans else "constriction"
            rows.append((ratio, coder, n_symbols / decode_s / 1e6))
            print(f"| {ratio:g} | {n_symbols / 1e6:.2f} M | {coder} | {encode_s * 1e3:.1f} | {decode_s * 1e3:.1f} | "
                  f"{n_symbols / decode_s / 1e6:.0f} | {n_bytes} |")
    plot(rows, Path(__file__).parent / "plots" / "entropy.png")


def plot(rows: list[tuple[float, str, float]], path: Path) -> None:
    """Decode Msym/s per ratio and coder as grouped bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = sorted({ratio for ratio, _, _ in rows})
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, coder in enumerate(("constriction", "rANS")):
        rates = [rate for ratio in ratios for r, c, rate in rows if r == ratio and c == coder]
        ax.bar(np.arange(len(ratios)) + 0.4 * k, rates, width=0.4, label=coder)
    ax.set_xticks(np.arange(len(ratios)) + 0.2, [f"{r:g}" for r in ratios])
    ax.set_xlabel("target ratio")
    ax.set_ylabel("decode, M symbols / s (1 thread)")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot: {path}")


if __name__ == "__main__":
    main()
