"""Which zero blocks should the ratio mode code as all zero? PSNR at equal size per rule.

Usage::

    python benchmarks/bench_sparse_blocks.py [--data PATH.npy] [--blocks full half] [--ratios 4 8 16]

Takes the flat-base residual bands of a real EM block in the codec's coding units (4 x 4 zero
blocks, ``BandUnits``), quantises them with one step, drops the detail-band blocks that a rule
selects (their flag becomes 0, their values are not coded), codes all groups with the codec's
``encode_groups``, bisects the step to exactly ``nbytes / ratio`` for every rule and prints the
PSNR (dB, data range 255) of the inverse transform. Rules: none (every block with a non-zero
value is coded), blocks whose non-zero values are at most N of +-1 (N = 1, 2, 3), blocks of
+-1 only, and (not shipped, for comparison) a rate-distortion rule on top of the shipped one:
drop a block whose values are at most +-2 where the squared error it would add is below
k * step**2 times the bits it costs (its flag and values at the band's own frequencies; for a
dead-zone quantiser at high rate the slope of D(R) is (ln 2 / 6) * step**2, k = 0.12).
Blocks: ``full`` is the (30, 512, 512) block, ``half`` its [15:, 256:, :] part. The shipped
rule is ``SPARSE_BLOCK_NONZERO`` in ``runtime/rate_control.py``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from zarr_unicompress.data import load_em_volume
from zarr_unicompress.runtime.entropy.groups import encode_groups
from zarr_unicompress.runtime.quantize.band_units import BandUnits
from zarr_unicompress.runtime import numba_support
from zarr_unicompress.runtime.transform.wavelet_residual import band_shapes, levels_for, quantize, synthesize

#: a rule: (coefficients (n, 16) float32, quantised (n, 16) int32, step) -> which of the
#: detail band's blocks are dropped.
Rule = Callable[[np.ndarray, np.ndarray, float], np.ndarray] | None


def rules() -> dict[str, Rule]:
    """Rule name -> which blocks of a detail band are dropped."""
    def at_most(n: int) -> Rule:
        return lambda c, q, step: (np.abs(q).max(axis=1) == 1) & (np.count_nonzero(q, axis=1) <= n)

    def rate_distortion(k: float) -> Rule:
        def rule(c: np.ndarray, q: np.ndarray, step: float) -> np.ndarray:
            sparse = at_most(1)(c, q, step)
            return sparse | rd_drop(c, q, step, k, ~sparse)

        return rule

    return {"none": None, "<= 1 of +-1": at_most(1), "<= 2 of +-1": at_most(2), "<= 3 of +-1": at_most(3),
            "only +-1": lambda c, q, step: np.abs(q).max(axis=1) == 1,
            "<= 1 of +-1, then RD k=0.06": rate_distortion(0.06),
            "<= 1 of +-1, then RD k=0.12": rate_distortion(0.12),
            "<= 1 of +-1, then RD k=0.24": rate_distortion(0.24)}


def rd_drop(c: np.ndarray, q: np.ndarray, step: float, k: float, kept: np.ndarray) -> np.ndarray:
    """Blocks with a non-zero value of at most +-2 among ``kept`` (n,) bool whose added squared
    error (c**2 - (c - q * step)**2 summed, intensity units squared) is below k * step**2 times
    their bits: the flag's 1 instead of 0 and each value's -log2 frequency among the kept
    blocks' values of this band."""
    coded = kept & q.any(axis=1)
    drop = np.zeros(len(q), bool)
    candidates = np.flatnonzero(coded & (np.abs(q).max(axis=1) <= 2))
    if not candidates.size:
        return drop
    symbols, counts = np.unique(q[coded], return_counts=True)
    value_bits = np.full(int(symbols.max() - symbols.min()) + 1, 20.0)
    value_bits[symbols - symbols.min()] = -np.log2(counts / counts.sum())
    n_coded = int(coded.sum())
    flag_bits = -np.log2(n_coded / len(q)) + np.log2(max(len(q) - n_coded, 1) / len(q))
    qc, cc = q[candidates], c[candidates].astype(np.float64)
    rate = flag_bits + value_bits[qc - symbols.min()].sum(axis=1)
    added_error = (cc**2 - (cc - qc * float(np.float32(step))) ** 2).sum(axis=1)
    drop[candidates[added_error < k * float(np.float32(step)) ** 2 * rate]] = True
    return drop


def code(block: np.ndarray, units: BandUnits, flat: int, step: float, rule: Rule) -> tuple[int, float]:
    """Coded size (bytes of tables + ANS words) and PSNR (dB) of the bands at ``step`` under ``rule``."""
    levels = levels_for(block.shape)
    groups, bands = [], []
    for band, (blocks, shape) in enumerate(zip(units.units, band_shapes(block.shape, levels))):
        q = quantize(blocks, step)
        coded = q.any(axis=1)
        if rule is not None and band > 0:
            coded &= ~rule(blocks, q, step)
        groups += [coded.view(np.int8), q[coded].ravel()]
        band = np.empty(shape, np.float32)
        numba_support.loops("transform.synthesis_loops").dequantize_blocks(coded.view(np.uint8), q[coded].ravel(),
                                                                          np.float32(step), band)
        bands.append(band)
    tables, words, _ = encode_groups(groups)
    recon = np.clip(np.rint(synthesize(bands, levels, block.shape) + flat), 0, 255)
    mse = np.mean((recon - block.astype(np.float64)) ** 2)
    return len(tables) + len(words), float(10 * np.log10(255.0**2 / mse))


def psnr_at_size(block: np.ndarray, units: BandUnits, flat: int, budget: float, rule: Rule) -> tuple[float, float]:
    """(ratio reached, PSNR) at the smallest step (bisection, 30 steps) whose size fits ``budget`` bytes."""
    fine, coarse = 0.05, 500.0
    for _ in range(30):
        mid = (fine * coarse) ** 0.5
        if code(block, units, flat, mid, rule)[0] > budget:
            fine = mid
        else:
            coarse = mid
    size, psnr = code(block, units, flat, coarse, rule)
    return block.nbytes / size, psnr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy volume (default: ISBI 2012 from the data search path)")
    parser.add_argument("--blocks", nargs="+", default=("full", "half"), choices=("full", "half"))
    parser.add_argument("--ratios", type=float, nargs="+", default=(4, 8, 16))
    args = parser.parse_args()
    volume = np.load(args.data, mmap_mode="r") if args.data else load_em_volume("isbi2012")
    blocks = {"full": volume[:30, :512, :512], "half": volume[15:30, 256:512, :512]}
    names = list(rules())
    print("| block | ratio | " + " | ".join(f"{n} (dB)" for n in names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for name in args.blocks:
        block = np.ascontiguousarray(blocks[name])
        flat = int(round(float(block.mean())))
        units = BandUnits.of_signal(block, levels_for(block.shape), flat, True)
        for ratio in args.ratios:
            cells = [psnr_at_size(block, units, flat, block.nbytes / ratio, rule)[1] for rule in rules().values()]
            print(f"| {name} {block.shape} | {ratio:g} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
