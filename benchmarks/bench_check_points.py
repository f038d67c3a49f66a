"""Ratio-mode check points: size, PSNR and stream digest of 100 real-data encodes, to compare
two versions of the encoder.

Usage::

    python benchmarks/bench_check_points.py [--data PATH.npy] > now.tsv
    PYTHONPATH=/path/to/other/checkout python benchmarks/bench_check_points.py > before.tsv
    python benchmarks/bench_check_points.py --compare before.tsv now.tsv

Blocks: the ISBI (30, 512, 512) block, its eight (16, 256, 256) corners, ten random crops of
1-30 x 8-299 x 8-299 voxels (seed 5) and a (16, 256, 256) uint16 block (the uint8 corner times
97); ratios 4, 8, 16, 32 and 64. Per encode one tab-separated line: block, dtype, ratio, stream
bytes, budget / bytes (>= 1: within budget), PSNR (dB, data range 255 for uint8 and the block's
range otherwise) and the first 16 hex digits of the stream's sha256. ``--compare`` prints how
many streams are identical, the PSNR differences and the budget fill of both.

``--crops N [--seed S]`` instead encodes N random crops of the whole volume (1-30 x 1-299 x
1-299 voxels, uint8 / uint16 / int16 / int8, ratios 1.5-100 log-uniform: the loop of
``tests/test_chunk_codec.py::test_random_crops_fit_their_budget`` on the real volume) and
prints how many streams exceed budgets of more than 100 bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
from pathlib import Path

import numpy as np


def check_blocks(volume: np.ndarray) -> list[np.ndarray]:
    blocks = [volume[:30, :512, :512]]
    for z, y, x in itertools.product((0, 14), (0, 256), (0, 256)):
        blocks.append(volume[z : z + 16, y : y + 256, x : x + 256])
    rng = np.random.default_rng(5)
    for _ in range(10):
        d, h, w = rng.integers(1, 31), rng.integers(8, 300), rng.integers(8, 300)
        z, y, x = rng.integers(0, 31 - d), rng.integers(0, 513 - h), rng.integers(0, 513 - w)
        blocks.append(volume[z : z + d, y : y + h, x : x + w])
    blocks.append(volume[:16, :256, :256].astype(np.uint16) * 97)
    return [np.ascontiguousarray(b) for b in blocks]


def run(data: str | None) -> None:
    from numcodecs_ext.unicompress import model_blob
    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.runtime.chunk_codec import (
        QualitySettings,
        decode_chunk,
        encode_chunk,
    )
    from zarr_unicompress.runtime.inr.model import load_model

    volume = np.load(data, mmap_mode="r") if data else load_em_volume("isbi2012")
    model = load_model(model_blob(None))
    for block in check_blocks(volume):
        data_range = 255.0 if block.dtype == np.uint8 else float(block.max()) - float(block.min())
        for ratio in (4, 8, 16, 32, 64):
            stream = encode_chunk(model, block, QualitySettings(ratio=ratio))
            out = decode_chunk(model, stream).reshape(block.shape).astype(np.float64)
            mse = max(float(np.mean((out - block) ** 2)), 1e-12)
            fields = ["x".join(map(str, block.shape)), str(block.dtype), str(ratio), str(len(stream)),
                      f"{block.nbytes / ratio / len(stream):.4f}", f"{10 * np.log10(data_range**2 / mse):.4f}",
                      hashlib.sha256(stream).hexdigest()[:16]]
            print("\t".join(fields), flush=True)


def random_crops(data: str | None, n: int, seed: int) -> None:
    from numcodecs_ext.unicompress import model_blob
    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.runtime.chunk_codec import QualitySettings, encode_chunk
    from zarr_unicompress.runtime.inr.model import load_model
    from zarr_unicompress.testing import random_crop

    volume = np.asarray(np.load(data, mmap_mode="r") if data else load_em_volume("isbi2012"))
    model = load_model(model_blob(None))
    rng = np.random.default_rng(seed)
    over, counted = [], 0
    for _ in range(n):
        chunk, ratio = random_crop(volume, rng)
        budget = chunk.nbytes / ratio
        stream = encode_chunk(model, chunk, QualitySettings(ratio=ratio))
        if budget > 100:
            counted += 1
            if len(stream) > budget:
                over.append((chunk.shape, str(chunk.dtype), round(ratio, 2), len(stream), round(budget)))
    print(f"{n} crops (seed {seed}), {counted} with budgets over 100 bytes: {len(over)} over budget")
    for case in over:
        print("  over:", case)


def read_rows(path: str) -> list[list[str]]:
    """The tab-separated fields of each line of an earlier output."""
    return [line.split("\t") for line in Path(path).read_text().splitlines()]


def compare(before_path: str, now_path: str) -> None:
    before, now = read_rows(before_path), read_rows(now_path)
    if [r[:3] for r in before] != [r[:3] for r in now]:
        sys.exit("the two files hold different check points")
    gain = np.array([float(b[5]) - float(a[5]) for a, b in zip(before, now)])
    fill_before = np.array([1 / float(r[4]) for r in before])
    fill_now = np.array([1 / float(r[4]) for r in now])
    identical = sum(a[6] == b[6] for a, b in zip(before, now))
    worst = int(np.argmin(gain))
    print(f"{len(now)} check points: {identical} streams identical; PSNR {gain.mean():+.4f} dB on average "
          f"({gain.min():+.4f} .. {gain.max():+.4f}; lowest: {' '.join(now[worst][:3])}, fill "
          f"{fill_before[worst]:.4f} -> {fill_now[worst]:.4f})")
    print(f"budget filled: before {fill_before.mean():.4f} on average ({fill_before.min():.4f} .. {fill_before.max():.4f}), "
          f"now {fill_now.mean():.4f} ({fill_now.min():.4f} .. {fill_now.max():.4f}); over budget: "
          f"{int((fill_before > 1).sum())} before, {int((fill_now > 1).sum())} now")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy volume (default: ISBI 2012 from the data search path)")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "NOW"), help="compare two earlier outputs")
    parser.add_argument("--crops", type=int, default=0, help="encode this many random crops instead")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
    elif args.crops:
        random_crops(args.data, args.crops, args.seed)
    else:
        run(args.data)


if __name__ == "__main__":
    main()
