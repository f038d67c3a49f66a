"""How well the ratio mode's rate control hits its byte budget, and what it costs.

Usage::

    python benchmarks/bench_rate_control.py [--data PATH.npy] [--ratios 4 8 12 16 24 32 64]

On real EM blocks (the (30, 512, 512) ISBI block and its eight (16, 256, 256) corners, flat
base, as the encoder chooses on this data) it prints, per ratio and over all blocks:

* the size estimate's error: coded size / estimate at the step the encoder's first try uses
  (``SizeEstimator`` aimed at ``ratio_coder._AIM`` x budget, inside the accepted window);
* what the encoder did: streams packed per encode (1 where the first try lands in the window),
  size estimates per encode (all samples), and the reached ratio / target;
* on the (30, 512, 512) block, the estimate's error over 15 budgets within +-1 % of each
  ratio's (each search ends on its own sample), as shipped and, where the package focuses its
  samples (``SizeEstimator.focus``), with the strided sample only.

Runs with any version of the package that has ``BandUnits``, ``SizeEstimator`` and
``encode_groups`` (so that versions can be compared on the same blocks).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from zarr_unicompress.data import load_em_volume
from zarr_unicompress.default_model import default_student_blob
from zarr_unicompress.runtime import chunk_codec
from zarr_unicompress.runtime.coders import ratio as ratio_coder
from zarr_unicompress.runtime.quantize import rate_control
from zarr_unicompress.runtime.entropy.groups import encode_groups
from zarr_unicompress.runtime.inr.model import load_model
from zarr_unicompress.runtime.transform.wavelet_residual import levels_for

#: share of the budget the estimate is asked to fill (the middle of the accepted window).
AIM = 0.9925


def em_blocks(volume: np.ndarray) -> dict[str, np.ndarray]:
    """The whole (30, 512, 512) block and its eight (16, 256, 256) corners."""
    blocks = {"(30, 512, 512)": np.ascontiguousarray(volume[:30, :512, :512])}
    for z in (0, 14):
        for y in (0, 256):
            for x in (0, 256):
                blocks[f"(16, 256, 256) at {z},{y},{x}"] = np.ascontiguousarray(volume[z:z + 16, y:y + 256, x:x + 256])
    return blocks


def estimate_error(block: np.ndarray, ratio: float) -> float:
    """Coded size / estimate of the flat-base bands at the step whose estimate fills AIM x budget."""
    lo, hi = int(block.min()), int(block.max())
    flat = int(np.clip(np.rint(block.mean()), lo, hi))
    units = rate_control.BandUnits.of_signal(block, levels_for(block.shape), flat, True)
    estimator = rate_control.SizeEstimator(units)
    step = estimator.step_for(8 * (AIM * block.nbytes / ratio - ratio_coder._FIXED_BYTES), hi - lo)
    tables, words, _ = encode_groups(units.groups(step))
    return 8 * (len(tables) + len(words)) / estimator.bits(step)


def budget_sweep(block: np.ndarray, ratio: float, focused: bool, budgets: int = 15) -> np.ndarray:
    """Coded size / estimate at the step found for ``budgets`` budgets within +-1 % of
    ``nbytes / ratio``: how the estimate's error varies with the sample a search ends on
    (``focused=False``: the strided sample only, where the package has ``SizeEstimator.focus``)."""
    lo, hi = int(block.min()), int(block.max())
    flat = int(np.clip(np.rint(block.mean()), lo, hi))
    units = rate_control.BandUnits.of_signal(block, levels_for(block.shape), flat, True)
    errors = []
    for share in np.linspace(0.99, 1.01, budgets):
        estimator = rate_control.SizeEstimator(units)
        if not focused:
            estimator.focus = lambda step: None
        step = estimator.step_for(8 * (AIM * share * block.nbytes / ratio - ratio_coder._FIXED_BYTES), hi - lo)
        tables, words, _ = encode_groups(units.groups(step))
        errors.append(8 * (len(tables) + len(words)) / estimator.bits(step))
    return np.array(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy volume (default: ISBI 2012 from the data search path)")
    parser.add_argument("--ratios", type=float, nargs="+", default=(4, 8, 12, 16, 24, 32, 64))
    args = parser.parse_args()

    volume = np.load(args.data, mmap_mode="r") if args.data else load_em_volume("isbi2012")
    model = load_model(default_student_blob())
    counts: dict[str, int] = defaultdict(int)
    pack, bits = ratio_coder.code_bands, rate_control.SizeEstimator.bits

    def counted_pack(*a, **k):
        counts["packs"] += 1
        return pack(*a, **k)

    def counted_bits(self, step):
        counts["estimates"] += 1
        return bits(self, step)

    ratio_coder.code_bands = counted_pack
    rate_control.SizeEstimator.bits = counted_bits
    blocks = em_blocks(volume)
    print(f"{len(blocks)} blocks of {args.data or 'ISBI 2012'}, flat base; package {chunk_codec.__file__}")
    print("\n| ratio | coded / estimate (min .. max) | streams packed per encode | estimates per encode "
          "| reached / target ratio (min .. max) | encode ms (all blocks) |")
    print("|---:|---|---:|---:|---|---:|")
    all_errors, all_packs, n = [], 0, 0
    for ratio in args.ratios:
        errors = [estimate_error(b, ratio) for b in blocks.values()]
        counts.clear()
        reached = []
        start = time.perf_counter()
        for block in blocks.values():
            stream = chunk_codec.encode_chunk(model, block, chunk_codec.QualitySettings(ratio=ratio))
            reached.append(block.nbytes / len(stream) / ratio)
        seconds = time.perf_counter() - start
        all_errors += errors
        all_packs += counts["packs"]
        n += len(blocks)
        print(f"| {ratio:g} | {min(errors):.4f} .. {max(errors):.4f} | {counts['packs'] / len(blocks):.2f} "
              f"| {counts['estimates'] / len(blocks):.1f} | {min(reached):.4f} .. {max(reached):.4f} | {1e3 * seconds:.0f} |")
    print(f"\nall {n} encodes: coded / estimate {min(all_errors):.4f} .. {max(all_errors):.4f} "
          f"(median {np.median(all_errors):.4f}); {all_packs} streams packed")

    block = next(iter(blocks.values()))
    samples = [("as shipped", True)] + ([("strided only", False)] if hasattr(rate_control.SizeEstimator, "focus") else [])
    print(f"\nEstimate error over 15 budgets within +-1 % of nbytes / ratio, {block.shape} block:\n")
    print("| ratio | sample | coded / estimate: mean | sd | min .. max |")
    print("|---:|---|---:|---:|---|")
    for ratio in args.ratios:
        for label, focused in samples:
            errors = budget_sweep(block, ratio, focused)
            print(f"| {ratio:g} | {label} | {errors.mean():.4f} | {errors.std():.4f} | {errors.min():.4f} .. {errors.max():.4f} |")


if __name__ == "__main__":
    main()
