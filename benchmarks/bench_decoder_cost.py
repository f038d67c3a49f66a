"""Decoder cost and transform diagnostics of UniCompress on the ISBI 2012 block (moved out of
bench_rd.py, which now imports the codec through public names only): indices-only table
decoder vs direct SIREN evaluation, FLOP per voxel, PyWavelets vs the codec's lifting CDF 9/7.

Usage::

    python benchmarks/bench_decoder_cost.py [--data PATH.npy] [--chunk 30 512 512] [--repeats 3]

This script reads runtime internals (zarr_unicompress.runtime.*): update its imports when
those modules move.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics import median_seconds, psnr  # noqa: E402


def table_vs_direct(model, block: np.ndarray) -> str:
    """Indices-only reconstruction of ``block`` by the table decoder vs a direct float64 SIREN
    evaluation at every voxel (same indices): PSNR of both and how many voxels differ."""
    from zarr_unicompress.runtime.inr.network import siren_forward
    from zarr_unicompress.runtime.inr.prediction import scaled_table, select_indices
    from zarr_unicompress.runtime.inr.tokens import from_tokens, local_coordinates, to_tokens

    lo, hi = int(block.min()), int(block.max())
    tokens01 = (to_tokens(block, model.token_shape).astype(np.float32) - lo) / (hi - lo)
    indices = select_indices(model, tokens01, "table")
    table = from_tokens(scaled_table(model, lo, hi)[indices], block.shape, model.token_shape)
    coords = local_coordinates(model.token_shape)
    codebook = model.weights.tensors["codebook"].astype(np.float64)
    y = siren_forward(model.weights, np.repeat(codebook[indices], len(coords), axis=0),
                      np.tile(coords, (len(indices), 1))).reshape(len(indices), len(coords))
    direct = from_tokens(np.rint(lo + np.clip(y, 0, 1) * (hi - lo)), block.shape, model.token_shape)
    differ = int(np.count_nonzero(table.astype(np.int64) != direct.astype(np.int64)))
    return (f"indices-only PSNR: table decoder {psnr(block, table):.4f} dB, direct SIREN per voxel "
            f"{psnr(block, direct):.4f} dB; {differ} of {block.size} voxels differ")


def decoder_cost(model) -> str:
    """FLOP per voxel of a direct SIREN evaluation vs the table decoder, and the table build time."""
    from zarr_unicompress.runtime.inr.model import build_runtime_model

    t = model.weights.tensors
    siren = [k for k in t if k.startswith("siren.") and k.endswith(".weight")]
    flop = sum(2 * int(np.prod(t[k].shape)) + 4 * t[k].shape[0] for k in siren)  # matmul + bias + sine
    start = time.perf_counter()
    build_runtime_model(model.blob)
    build = time.perf_counter() - start
    k, v = model.table.shape
    return ("| decoder | FLOP per voxel | one-off cost |\n|---|---:|---|\n"
            f"| direct SIREN (student, {len(siren)} layers) | {flop} | none |\n"
            f"| table decoder (this codec) | 0 network FLOP: 1 table lookup + residual | table of {k} x {v} "
            f"uint16 built in {build * 1000:.0f} ms per process ({k * v * flop / 1e6:.0f} MFLOP) |\n"
            f"| ratio mode: inverse CDF 9/7 by lifting (5 levels) | {lifting_flop_per_voxel(5):.1f} | none |\n"
            f"| same transform as 9/7-tap convolution (PyWavelets) | {convolution_flop_per_voxel(5):.1f} | none |")


def transform_table(block: np.ndarray, repeats: int) -> str:
    """Forward and inverse 5-level CDF 9/7 of the block: PyWavelets' float32 convolution vs
    the codec's float32 lifting (runtime/transform/cdf97.py), time and largest difference."""
    import warnings

    import pywt

    from zarr_unicompress.runtime.transform import cdf97

    signal = block.astype(np.float32) - np.float32(block.mean())
    levels = 5

    def pywt_forward() -> list[np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            coeffs = pywt.wavedec2(signal, "bior4.4", mode="periodization", level=levels, axes=(1, 2))
        return [coeffs[0]] + [band for detail in coeffs[1:] for band in detail]

    def pywt_inverse(bands: list[np.ndarray]) -> np.ndarray:
        coeffs = [bands[0]] + [tuple(bands[1 + 3 * i : 4 + 3 * i]) for i in range(levels)]
        return pywt.waverec2(coeffs, "bior4.4", mode="periodization", axes=(1, 2))

    reference = pywt_forward()
    lifted = cdf97.analyze(signal, levels)
    forward_diff = max(float(np.abs(a - b).max()) for a, b in zip(reference, lifted))
    inverse_diff = float(np.abs(pywt_inverse(reference) - cdf97.synthesize(reference, levels, signal.shape)).max())
    rows = [("forward", median_seconds(pywt_forward, repeats), median_seconds(lambda: cdf97.analyze(signal, levels), repeats),
             forward_diff),
            ("inverse", median_seconds(lambda: pywt_inverse(reference), repeats),
             median_seconds(lambda: cdf97.synthesize(reference, levels, signal.shape), repeats), inverse_diff)]
    lines = ["| direction | PyWavelets ms | lifting ms | speed-up | largest difference (intensity units) |",
             "|---|---:|---:|---:|---:|"]
    for name, conv, lift, diff in rows:
        lines.append(f"| {name} | {conv * 1000:.1f} | {lift * 1000:.1f} | {conv / lift:.2f}x | {diff:.2e} |")
    return "\n".join(lines)


def lifting_flop_per_voxel(levels: int) -> float:
    """Counted FLOP per output voxel of the 2D inverse lifting (runtime/transform/cdf97.py): per axis and
    input sample, 4 lifting steps of (add, multiply, add) on half the samples plus one scaling
    multiply; two axes per level; level l works on 4**-l of the voxels."""
    per_sample_axis = 4 * 3 / 2 + 1
    return 2 * per_sample_axis * sum(4.0**-level for level in range(levels))


def convolution_flop_per_voxel(levels: int) -> float:
    """The same for the 9- and 7-tap synthesis filters applied as convolutions: each output
    sample takes one multiply-add per tap of the filter of its phase (16 taps per two samples)."""
    per_sample_axis = 2 * (9 + 7) / 2
    return 2 * per_sample_axis * sum(4.0**-level for level in range(levels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy volume (default: ISBI 2012 from the data search path)")
    parser.add_argument("--chunk", type=int, nargs=3, default=(30, 512, 512))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="student blob (.ucmw) instead of the default model")
    args = parser.parse_args()

    from numcodecs_ext.unicompress import model_blob
    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.runtime.inr.model import load_model

    volume = np.load(args.data, mmap_mode="r") if args.data else load_em_volume("isbi2012")
    block = np.ascontiguousarray(volume[tuple(slice(0, c) for c in args.chunk)])
    model = load_model(Path(args.model).read_bytes() if args.model else model_blob(None))
    print(f"block {block.shape} {block.dtype}; model sha256 {model.digest[:16]}")
    print(f"\n### Wavelet transform of the block (5 levels, float32, median of {args.repeats})\n")
    print(transform_table(block, args.repeats))
    print("\n### Decoder cost\n")
    print(decoder_cost(model))
    print("\n" + table_vs_direct(model, block))


if __name__ == "__main__":
    main()
