"""How the ratio mode's base choice (INR or flat) decides from one slice per token row.

Usage::

    python benchmarks/bench_base_choice.py [--data PATH.npy] [--ratios 4 8 16 32 64]

The encoder compares, on a subset of token rows, the estimated bits of the chunk's slices with
the INR prediction as base (indices included) and with the flat base, at the step the flat
base needs for the budget. It first looks at one slice of each row (offset
``_BASE_CHOICE_FIRST_SLICE``) and takes the flat base where the INR base costs
``_BASE_CHOICE_FIRST_SLICE_MARGIN`` times its bits there or more; else the whole rows decide.

On real EM blocks (the (30, 512, 512) ISBI block, eight (16, 256, 256) and twelve
(8, 128, 128) crops) it prints, for every token row and ratio, the INR / flat size ratio of
that slice against the whole row's (the choice the rows would make), with the same estimates
the encoder uses (``base_choice.base_bits``): how far the slice strays from its row, how
often the slice alone decides, and whether any decision differs from the rows'.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from zarr_unicompress.data import load_em_volume
from zarr_unicompress.default_model import default_student_blob
from zarr_unicompress.runtime.coders import ratio as ratio_coder
from zarr_unicompress.runtime.inr.prediction import codebook_indices, inr_prediction, prediction_slices
from zarr_unicompress.runtime.quantize import base_choice
from zarr_unicompress.runtime.entropy.groups import symbol_counts
from zarr_unicompress.runtime.inr.model import load_model
from zarr_unicompress.runtime.quantize.rate_control import BandUnits, SizeEstimator
from zarr_unicompress.runtime.inr.tokens import token_grid
from zarr_unicompress.runtime.transform.wavelet_residual import levels_for


def em_blocks(volume: np.ndarray) -> list[np.ndarray]:
    """The (30, 512, 512) block, its eight (16, 256, 256) corners and twelve random (8, 128, 128) crops."""
    blocks = [np.ascontiguousarray(volume[:30, :512, :512])]
    for z, y, x in itertools.product((0, 14), (0, 256), (0, 256)):
        blocks.append(np.ascontiguousarray(volume[z : z + 16, y : y + 256, x : x + 256]))
    rng = np.random.default_rng(3)
    for _ in range(12):
        z, (y, x) = rng.integers(0, 22), rng.integers(0, 384, 2)
        blocks.append(np.ascontiguousarray(volume[z : z + 8, y : y + 128, x : x + 128]))
    return blocks


def row_ratios(model, block: np.ndarray, ratio: float) -> list[tuple[float, float]]:
    """(slice ratio, row ratio) of INR / flat bits for every token row of ``block``."""
    lo, hi = int(block.min()), int(block.max())
    levels = levels_for(block.shape)
    units, _ = BandUnits.about_mean(block, levels, block.size >= ratio_coder.ZERO_BLOCK_MIN_VOXELS, lo, hi)
    budget_bits = 8 * (ratio_coder._AIM * block.nbytes / ratio - ratio_coder._FIXED_BYTES)
    step = SizeEstimator(units).step_for(budget_bits, hi - lo)
    tz = model.token_shape[0]
    depth = block.shape[0]
    out = []
    for row in range(token_grid(block.shape, model.token_shape)[0]):
        zs = np.arange(row * tz, min((row + 1) * tz, depth))
        sample = block[zs]
        indices = codebook_indices(model, sample, lo, hi, "table")
        counts = symbol_counts(indices)[1]
        first = np.array([min(base_choice._BASE_CHOICE_FIRST_SLICE, len(zs) - 1)])
        pred1 = prediction_slices(model, indices, sample.shape, lo, hi, block.dtype, first)
        inr1, flat1 = base_choice.base_bits(sample[first], pred1, zs[first], depth, units, levels, step, counts,
                                             1 / len(zs))
        _, pred = inr_prediction(model, sample, lo, hi, "table")
        inr, flat = base_choice.base_bits(sample, pred, zs, depth, units, levels, step, counts, 1.0)
        out.append((inr1 / flat1, inr / flat))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy volume (default: ISBI 2012 from the data search path)")
    parser.add_argument("--ratios", type=float, nargs="+", default=(4, 8, 16, 32, 64))
    args = parser.parse_args()

    volume = np.load(args.data, mmap_mode="r") if args.data else load_em_volume("isbi2012")
    model = load_model(default_student_blob())
    margin = base_choice._BASE_CHOICE_FIRST_SLICE_MARGIN
    blocks = em_blocks(volume)
    print(f"{len(blocks)} blocks of {args.data or 'ISBI 2012'}; first slice at offset "
          f"{base_choice._BASE_CHOICE_FIRST_SLICE}, margin {margin}\n")
    print("| ratio | rows | row INR / flat (min .. max) | slice - row (mean, min .. max) "
          "| decided by the slice | decisions unlike the rows' |")
    print("|---:|---:|---|---|---:|---:|")
    everything = []
    for ratio in args.ratios:
        pairs = np.array([pair for block in blocks for pair in row_ratios(model, block, ratio)])
        everything.append(pairs)
        slice_ratio, row_ratio = pairs[:, 0], pairs[:, 1]
        stray = slice_ratio - row_ratio
        stops = slice_ratio >= margin
        wrong = np.count_nonzero(stops & (row_ratio < 1.0))
        print(f"| {ratio:g} | {len(pairs)} | {row_ratio.min():.3f} .. {row_ratio.max():.3f} "
              f"| {stray.mean():+.3f}, {stray.min():+.3f} .. {stray.max():+.3f} | {stops.mean():.0%} | {wrong} |")
    pairs = np.concatenate(everything)
    stray = pairs[:, 0] - pairs[:, 1]
    print(f"\nall {len(pairs)} rows: slice - row {stray.mean():+.3f} (sd {stray.std():.3f}), "
          f"{stray.min():+.3f} .. {stray.max():+.3f}; rows where the INR base wins: {np.count_nonzero(pairs[:, 1] < 1)}")


if __name__ == "__main__":
    main()
